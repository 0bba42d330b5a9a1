import { existsSync, readFileSync, statSync } from 'node:fs';
import { BROWSER_TESTS, missingChromium } from './helpers/browser';
import { missingRedisBinaries, OWN_REDIS_IMPORT } from './helpers/redis-server';

/** True when the test file at `path` starts its own redis-server (a directory or a pattern may hold one). */
function startsOwnRedis(path: string): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return true;
  return OWN_REDIS_IMPORT.test(readFileSync(path, 'utf8'));
}

/**
 * Runs once before any test: a run that needs what the machine lacks (Chromium for the browser tests, Debian's
 * redis-server and redis-cli for the tests that start their own servers) stops at once with one line naming
 * the package to install, instead of a wall of launch errors.
 */
export default function globalSetup(): void {
  const paths = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const needsBrowser =
    paths.length === 0 || paths.some((p) => BROWSER_TESTS.test(p) || /(^|\/)e2e\/?$/.test(p));
  const needsRedisBinaries = paths.length === 0 || paths.some(startsOwnRedis);
  const missing =
    (needsBrowser ? missingChromium() : null) ?? (needsRedisBinaries ? missingRedisBinaries() : null);
  if (missing) {
    const err = new Error(missing);
    err.stack = missing;
    throw err;
  }
}
