/**
 * `.ci/run` is what CI executes: it must end with the README's test command, exactly, so CI tests what a
 * developer runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

it('ends with the test command the README gives', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const command = /^(npm ci && npm test)\s+#/m.exec(readme)?.[1];
  expect(command).toBe('npm ci && npm test');
  const lines = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
    .trimEnd()
    .split('\n');
  expect(lines.at(-1)).toBe(command);
});
