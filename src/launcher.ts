import type { Logger } from 'pino';

/**
 * The one lifecycle every role (and the connections under them) has: `start()` once, `stop(deadline)` once.
 * `deadline` is an epoch-millisecond instant: finish what is in flight by then and let go of the rest (a role
 * that can't finish is abandoned by the {@link Launcher}, which moves on).
 */
export interface Lifecycle {
  /** Shown in logs (`role_started`, `shutdown_abandoned`). */
  readonly name: string;
  start(): Promise<void>;
  stop(deadline: number): Promise<void>;
}

/** What a stop left behind: the parts that did not finish by the deadline (or failed to stop). */
export interface StopReport {
  abandoned: string[];
}

/**
 * How long a part may still take once the shared deadline has passed (so the parts after a stuck one still
 * get to drop their connections).
 * @defaultValue 500 ms
 */
export const AFTER_DEADLINE_MS = 500;

/**
 * Starts parts in order and stops them in reverse (Sidekiq's `Launcher`): the connections first and last, the
 * roles in between. A part that fails to start stops the ones already started (in reverse) before the error
 * is thrown. A stop never waits past the deadline (plus {@link AFTER_DEADLINE_MS} a part): what is not done by
 * then is logged as abandoned and reported.
 */
export class Launcher {
  private readonly started: Lifecycle[] = [];
  /** While stopping: the parts not (yet) stopped, abandoned ones included. */
  private readonly unstopped = new Set<Lifecycle>();
  private stopping?: Promise<StopReport>;

  constructor(
    private readonly parts: readonly Lifecycle[],
    private readonly logger: Logger,
  ) {}

  /** The parts started so far, in start order. */
  get running(): readonly Lifecycle[] {
    return this.started;
  }

  async start(): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start();
      } catch (err) {
        this.logger.error({ err, part: part.name }, 'role_start_failed');
        await this.stop(Date.now() + 5000);
        throw err;
      }
      this.started.push(part);
      this.logger.debug({ part: part.name }, 'role_started');
    }
  }

  /**
   * While a stop runs, the names of the parts it has not stopped yet (abandoned ones and those still to
   * come), in stop order; what a backstop that ends the process anyway reports as abandoned.
   */
  get unfinished(): string[] {
    return [...this.unstopped].map((p) => p.name);
  }

  /** Stops every started part in reverse order by `deadline`; later calls return the first call's report. */
  stop(deadline: number): Promise<StopReport> {
    this.stopping ??= this.stopAll(deadline);
    return this.stopping;
  }

  private async stopAll(deadline: number): Promise<StopReport> {
    const abandoned: string[] = [];
    const order = [...this.started].reverse();
    for (const part of order) this.unstopped.add(part);
    for (const part of order) {
      const limit = Math.max(deadline, Date.now() + AFTER_DEADLINE_MS);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        part.stop(deadline).then(
          () => 'stopped' as const,
          (err: unknown) => {
            this.logger.error({ err, part: part.name }, 'role_stop_failed');
            return 'failed' as const;
          },
        ),
        new Promise<'late'>((r) => {
          timer = setTimeout(() => r('late'), limit - Date.now());
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'stopped') this.unstopped.delete(part);
      else {
        abandoned.push(part.name);
        if (outcome === 'late') this.logger.warn({ part: part.name }, 'shutdown_abandoned');
      }
    }
    this.started.length = 0;
    return { abandoned };
  }
}
