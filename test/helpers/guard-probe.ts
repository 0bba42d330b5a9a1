/**
 * Run as its own process by test/unit/processor-guard.test.ts (outside Jest, which handles uncaught errors
 * itself): guarded "processors" that lose errors in the three ways a real one can, side by side with quick
 * ones that keep switching the guard's storage on and off. Prints what each call ended with as JSON.
 */
import { runGuarded } from '../../src/workers/processor-guard';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const escapes: string[] = [];
  const heard = (name: string) => (_: unknown, err: Error) => escapes.push(`${name}: ${err.message}`);
  const outcome = (p: Promise<unknown>) =>
    p.then(
      (v) => `resolved ${String(v)}`,
      (e: Error) => `rejected ${e.message}`,
    );
  const forgotten = outcome(
    runGuarded(
      async () => {
        Promise.reject(new Error('a forgotten rejection'));
        await sleep(300);
        return 'forgotten-done';
      },
      null,
      heard('forgotten'),
    ),
  );
  const quick: Promise<string>[] = [];
  for (let i = 0; i < 20; i++) quick.push(outcome(runGuarded(async () => i, null, heard(`quick${i}`))));
  const timer = outcome(
    runGuarded(
      async () => {
        setTimeout(() => {
          throw new Error('a throwing timer');
        }, 30);
        await sleep(300);
        return 'timer-done';
      },
      null,
      heard('timer'),
    ),
  );
  const late = await outcome(
    runGuarded(
      async () => {
        setTimeout(() => {
          throw new Error('after it ended');
        }, 60);
        return 'late-done';
      },
      null,
      heard('late'),
    ),
  );
  const result = {
    forgotten: await forgotten,
    timer: await timer,
    late,
    quick: await Promise.all(quick),
  };
  await sleep(150);
  process.stdout.write(`${JSON.stringify({ ...result, escapes: escapes.sort() })}\n`);
}

void main();
