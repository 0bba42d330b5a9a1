import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { logErrorsOncePerEpisode, logOncePerEpisode } from '../log-once';
import type { RunEvent, RunEventBus } from '../monitor/run-events';
import { RedisKeys } from './redis-keys';

/** Presence: refreshed every 5 s by a subscribed process, gone 15 s after the last refresh. */
const PRESENCE_REFRESH_MS = 5000;
const PRESENCE_TTL_MS = 15_000;
/** Publishers read the presence key at most this often. */
const PRESENCE_CHECK_MS = 250;

/** Largest message published at once; bigger batches are split so subscribers never parse huge payloads. */
const MAX_EVENTS_PER_MESSAGE = 200;

/**
 * Run events over Redis pub/sub on {@link RedisKeys.runEventsChannel}: every tracker publishes what it stored, every
 * API process subscribes once (a dedicated connection, duplicated from the given one) and fans out to its
 * SSE clients. Pub/sub keeps nothing, which is what a live view wants: a page that reconnects reloads its
 * state from the API instead of replaying.
 */
export class RedisRunEventBus implements RunEventBus {
  readonly channel: string;
  private readonly presenceKey: string;
  private listening = true;
  private checkedAt = 0;
  /** When the last presence read answered (its answer is {@link listening}). */
  private answeredAt = 0;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    /** Where the subscriber's connection errors and failed presence writes go (once per outage). */
    private readonly logger: Logger,
  ) {
    const keys = new RedisKeys(prefix);
    this.channel = keys.runEventsChannel;
    this.presenceKey = keys.runEventsListeners;
  }

  /**
   * Whether some API process has live-stream clients. The presence key is read again, in the background,
   * when the last read is older than PRESENCE_CHECK_MS (a new subscriber waits that long before it counts
   * on events, see {@link subscribe}). Only a fresh "nobody" skips a batch: after a quiet spell the last
   * answer may predate a page that connected since, so until the new read answers a stale "nobody" counts
   * as yes (one batch published in vain, rather than a new page missing the run that just started). A
   * failed read answers yes.
   */
  wanted(): boolean {
    const now = Date.now();
    if (now - this.checkedAt >= PRESENCE_CHECK_MS) {
      this.checkedAt = now;
      this.redis.exists(this.presenceKey).then(
        (n) => {
          this.listening = n > 0;
          this.answeredAt = Date.now();
        },
        () => {
          this.listening = true;
        },
      );
    }
    return this.listening || now - this.answeredAt >= PRESENCE_CHECK_MS;
  }

  async publish(events: readonly RunEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE) {
      await this.redis.publish(this.channel, JSON.stringify(events.slice(i, i + MAX_EVENTS_PER_MESSAGE)));
    }
  }

  async subscribe(onEvents: (events: RunEvent[]) => void): Promise<{ close(): Promise<void> }> {
    const sub = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    logErrorsOncePerEpisode(sub, this.logger, 'run_events_subscriber_error');
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        return;
      }
      if (Array.isArray(parsed)) onEvents(parsed.filter(isRunEvent));
    });
    try {
      await sub.subscribe(this.channel);
    } catch (err) {
      // The caller tries again later with a new connection: this one would otherwise stay open, reconnecting.
      sub.disconnect();
      throw err;
    }
    // Tell publishers someone listens, for as long as this subscription lives. A failed write is retried at
    // the next refresh; until then publishers may skip this process's clients, so it is logged (per outage).
    const presence = logOncePerEpisode(this.logger, 'run_events_presence_failed');
    const announce = () =>
      this.redis.set(this.presenceKey, '1', 'PX', PRESENCE_TTL_MS).then(
        () => presence.recovered(),
        (err: unknown) => presence.error(err),
      );
    await announce();
    // Publishers that last read "nobody" read again within one check interval: wait it out, so the caller's
    // first events are not skipped.
    await new Promise((r) => setTimeout(r, PRESENCE_CHECK_MS + 50));
    const timer = setInterval(announce, PRESENCE_REFRESH_MS);
    timer.unref?.();
    return {
      close: async () => {
        clearInterval(timer);
        sub.disconnect();
      },
    };
  }
}

function isRunEvent(v: unknown): v is RunEvent {
  const e = v as RunEvent;
  return (
    !!e &&
    typeof e.type === 'string' &&
    typeof e.run_id === 'string' &&
    (typeof e.job_id === 'string' || e.job_id === null)
  );
}
