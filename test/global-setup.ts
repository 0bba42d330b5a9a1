import { BROWSER_TESTS, missingChromium } from './helpers/browser';

/**
 * Runs once before any test: a run that includes the browser tests (the whole suite, or a path that names
 * one) stops at once with one line naming the package to install, instead of a wall of launch errors.
 */
export default function globalSetup(): void {
  const paths = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const needsBrowser =
    paths.length === 0 || paths.some((p) => BROWSER_TESTS.test(p) || /(^|\/)e2e\/?$/.test(p));
  const missing = needsBrowser ? missingChromium() : null;
  if (missing) {
    const err = new Error(missing);
    err.stack = missing;
    throw err;
  }
}
