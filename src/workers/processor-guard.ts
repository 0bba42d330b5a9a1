import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';

/** The run an async call chain belongs to: where an error that escaped its processor goes. */
interface GuardedRun {
  escape(err: Error): void;
}

const current = new AsyncLocalStorage<GuardedRun>();
let installed = false;

/**
 * Node 20's AsyncLocalStorage keeps a run's store on each async resource under this symbol, and while it is
 * enabled every promise the process creates pays a hook (~0.2 µs each: BullMQ and ioredis make dozens per
 * job). So the storage is enabled only while some processor is still pending ({@link runGuarded}), and an
 * escaped error is attributed by reading the resource's store directly, which also works for a resource a
 * processor created before the storage was disabled (a timer it left behind). Where the symbol does not
 * exist (Node ≥ 22's AsyncContextFrame storage, whose cost is negligible), the storage stays enabled.
 */
const RESOURCE_STORE = (current as unknown as { kResourceStore?: symbol }).kResourceStore;
/** Processors started and not settled yet. */
let pending = 0;

function storeOfCurrentResource(): GuardedRun | undefined {
  if (RESOURCE_STORE === undefined) return current.getStore();
  const resource = executionAsyncResource() as Record<symbol, GuardedRun | undefined>;
  return resource[RESOURCE_STORE];
}

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
  const run = storeOfCurrentResource();
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

function settled(): void {
  pending--;
  if (pending === 0 && RESOURCE_STORE !== undefined) current.disable();
}

/** One guarded processor call: where its escaped error goes, at most once. */
class Guarded<A, T> implements GuardedRun {
  private escaped = false;
  reject: ((err: Error) => void) | null = null;

  constructor(
    private readonly arg: A,
    private readonly onEscape: (arg: A, err: Error) => void,
  ) {}

  escape(err: Error): void {
    if (this.escaped) return;
    this.escaped = true;
    this.onEscape(this.arg, err);
    this.reject?.(err);
  }

  /** Settles `out` with the processor's outcome, unless an escape rejected it first. */
  follow(work: Promise<T>, resolve: (v: T) => void, reject: (err: unknown) => void): void {
    work.then(
      (v) => {
        settled();
        resolve(v);
      },
      (err) => {
        settled();
        reject(err);
      },
    );
  }
}

/**
 * Runs `fn(arg)` (a processor and its context) so that any error escaping its async chain rejects the
 * returned promise (after `onEscape(arg, err)` heard it) rather than crashing the process: the worker pool
 * fails the run with that error, its log lines kept. An escape after the processor settled only reaches
 * `onEscape` (it is logged). No closure per call: the hot path of every job.
 */
export function runGuarded<A, T>(
  fn: (arg: A) => Promise<T>,
  arg: A,
  onEscape: (arg: A, err: Error) => void,
): Promise<T> {
  if (!installed) {
    process.on('uncaughtException', onUncaught);
    installed = true;
  }
  const guard = new Guarded<A, T>(arg, onEscape);
  pending++;
  let work: Promise<T>;
  try {
    // Called inside the storage's context, so every resource the processor creates carries the guard.
    const out = current.run(guard, fn, arg) as Promise<T> | T;
    work = out instanceof Promise ? out : Promise.resolve(out);
  } catch (err) {
    settled();
    return Promise.reject(err);
  }
  return new Promise<T>((resolve, reject) => {
    guard.reject = reject;
    guard.follow(work, resolve, reject);
  });
}
