import { existsSync } from 'node:fs';

/** The Chromium the browser tests drive through playwright-core (Debian's package; CHROMIUM_PATH overrides). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Test files that need Chromium. */
export const BROWSER_TESTS = /dashboard\.browser|recording-player/;

/** The one line `npm test` prints when Chromium is missing, or null when it is there. */
export function missingChromium(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return `Chromium not found at ${CHROMIUM_PATH}: the browser tests need it. Install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_PATH.`;
}
