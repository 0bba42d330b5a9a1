import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Folder of the dashboard's static files (JS, CSS, icon): next to this module (tsx, and dist after
 * `npm run build` copies them), else src/dashboard/public under the project root.
 */
export function publicDir(): string {
  const candidates = [
    join(__dirname, 'public'),
    resolve(__dirname, '..', '..', 'src', 'dashboard', 'public'),
    resolve(process.cwd(), 'src', 'dashboard', 'public'),
  ];
  const found = candidates.find((d) => existsSync(join(d, 'dashboard.js')));
  if (!found) throw new Error(`dashboard static files not found (looked in ${candidates.join(', ')})`);
  return found;
}
