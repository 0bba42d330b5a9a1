import { AsyncLocalStorage } from 'node:async_hooks';

/** The run an async call chain belongs to: where an error that escaped its processor goes. */
interface GuardedRun {
  escape(err: Error): void;
}

const current = new AsyncLocalStorage<GuardedRun>();
let installed = false;

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Process-wide: an uncaught exception or unhandled rejection raised inside a processor's async chain
 * (a stream 'error' nobody listens to, a timer callback that throws, a forgotten promise) is handed to
 * that run, which fails, instead of ending the process with every other run in it. Any other uncaught
 * error keeps Node's behaviour: when no other handler is installed, it is re-thrown and ends the process.
 */
function onUncaught(err: unknown): void {
  const run = current.getStore();
  if (run) {
    run.escape(toError(err));
    return;
  }
  if (process.listenerCount('uncaughtException') > 1) return;
  process.removeListener('uncaughtException', onUncaught);
  installed = false;
  process.nextTick(() => {
    throw err;
  });
}

/**
 * Runs `fn` (a processor) so that any error escaping its async chain calls `onEscape` rather than
 * crashing the process. The worker pool fails the run with that error (its log lines are kept).
 */
export function runGuarded<T>(fn: () => Promise<T>, onEscape: (err: Error) => void): Promise<T> {
  if (!installed) {
    process.on('uncaughtException', onUncaught);
    installed = true;
  }
  let escaped = false;
  const run: GuardedRun = {
    escape(err) {
      if (escaped) return;
      escaped = true;
      onEscape(err);
    },
  };
  return current.run(run, () => Promise.resolve().then(fn));
}
