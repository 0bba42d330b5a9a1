// Copies the dashboard's static files next to the compiled code (dist/dashboard/public) after `tsc`.
import { cpSync } from 'node:fs';

cpSync('src/dashboard/public', 'dist/dashboard/public', { recursive: true });
