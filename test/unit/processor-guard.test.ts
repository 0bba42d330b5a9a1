import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The processor guard in a process of its own (Jest handles uncaught errors itself): an error a processor
 * loses (a forgotten rejection, a throwing timer) fails that call only, a late one after the call ended is
 * only reported, and quick calls beside them (which switch the guard's storage on and off) are untouched.
 */
it('attributes every escaped error to its own processor call, and the process lives on', () => {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '..', 'helpers', 'guard-probe.ts')],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!);
  expect(r.forgotten).toBe('rejected a forgotten rejection');
  expect(r.timer).toBe('rejected a throwing timer');
  expect(r.late).toBe('resolved late-done');
  expect(r.quick).toEqual(Array.from({ length: 20 }, (_, i) => `resolved ${i}`));
  expect(r.escapes).toEqual([
    'forgotten: a forgotten rejection',
    'late: after it ended',
    'timer: a throwing timer',
  ]);
});
