import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { logErrorsOncePerEpisode } from '../log-once';
import { RedisKeys } from '../queues/redis-keys';

/** A `{run_id, by}` request on {@link RedisKeys.cancelChannel}, as JobsService.cancel publishes it. */
interface CancelMessage {
  run_id: string;
  by: string;
}

/** What the listener cancels runs in (WorkerPool). */
export interface CancelTarget {
  /** Cancels the run if it runs in this process; else remembers the request briefly (it may start now). */
  cancel(runId: string, by: string): boolean;
  /** Run ids this process is running now. */
  runningIds(): string[];
}

/**
 * After the subscriber is back, the runs are looked up again this much later (a request published while the
 * SUBSCRIBE was on its way is in Redis by then).
 */
const RECHECK_MS = 1000;

/**
 * Listens, in every worker process, for cancel requests (Redis pub/sub on `{jm}:runs:cancel`, on its own
 * subscriber connection) and hands each to the pool: the process running that run aborts it; the others
 * ignore it. Pub/sub alone is fire-and-forget, so each request is also kept in Redis for an hour
 * ({@link RedisKeys.cancelRequest}): whenever the subscriber reconnects, the listener looks up the runs this
 * process is running and cancels those with a request.
 */
export class CancelListener {
  private sub: Redis | undefined;
  private readonly keys: RedisKeys;
  private recheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly target: CancelTarget,
    private readonly logger: Logger,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  async start(): Promise<void> {
    // Named, so CLIENT LIST tells an operator which connection this is.
    const sub = this.redis.duplicate({ connectionName: `${this.keys.name}:cancel-listener` });
    this.sub = sub;
    // A reconnecting subscriber errors every retry: one line per outage, and `_recovered` when it is back.
    logErrorsOncePerEpisode(sub, this.logger, 'cancel_listener_error');
    sub.on('message', (channel: string, raw: string) => {
      if (channel !== this.keys.cancelChannel) return;
      let msg: CancelMessage;
      try {
        msg = JSON.parse(raw) as CancelMessage;
      } catch {
        return;
      }
      if (typeof msg?.run_id !== 'string') return;
      this.take(msg.run_id, msg.by);
    });
    await sub.subscribe(this.keys.cancelChannel);
    // Every later 'ready' is a reconnect (ioredis subscribes again by itself): look for missed requests.
    sub.on('ready', () => {
      void this.catchUp();
      clearTimeout(this.recheck);
      this.recheck = setTimeout(() => void this.catchUp(), RECHECK_MS);
      this.recheck.unref();
    });
  }

  /** Cancels this process's runs that have a request stored (one MGET: the keys share a hash tag). */
  async catchUp(): Promise<void> {
    const ids = this.target.runningIds();
    if (!ids.length || !this.sub) return;
    try {
      const found = await this.redis.mget(ids.map((id) => this.keys.cancelRequest(id)));
      found.forEach((by, i) => {
        if (by !== null) this.take(ids[i], by);
      });
    } catch (err) {
      this.logger.warn({ err }, 'cancel_listener_catch_up_failed');
    }
  }

  private take(runId: string, rawBy: unknown): void {
    const by = typeof rawBy === 'string' ? rawBy.slice(0, 200) : 'an operator';
    if (this.target.cancel(runId, by)) this.logger.info({ run_id: runId, by }, 'run_cancel_requested');
  }

  async stop(): Promise<void> {
    clearTimeout(this.recheck);
    const sub = this.sub;
    this.sub = undefined;
    if (!sub) return;
    await sub.quit().catch(() => sub.disconnect());
  }
}
