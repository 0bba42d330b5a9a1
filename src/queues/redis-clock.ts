import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type EpisodeLog, logOncePerEpisode } from '../log-once';

/** How often the offset to Redis' clock is measured again. */
const RESYNC_MS = 30_000;

/**
 * Sequence numbers (see RunUpdate.seq) on Redis' clock, made in this process without a round trip.
 *
 * The reconciler orders a run's events by their stream ids, which Redis stamps with its own time; a worker
 * that records its runs itself must order its writes on the same clock, or a machine whose clock runs ahead
 * could make a worker's stale "running" beat a later "stalled". So the clock measures its offset to Redis'
 * `TIME` (halfway through the round trip) at start and every 30 s, and stamps `seq`s as Redis time. Seqs of
 * one process are strictly increasing, and their sub-millisecond part starts at 50,000,000 so that a seq
 * never equals a stream id of the same millisecond (an equal seq would be ignored as a replay).
 */
export class RedisClock {
  private offsetMs = 0;
  private lastMs = 0;
  private counter = 0;
  /** `lastMs` as a seq's first part. */
  private msText = '';
  private syncedAt = 0;
  private syncing: Promise<void> | null = null;

  private readonly syncLog: EpisodeLog | null;

  /** @param logger where failed re-syncs are logged (once per outage, and the recovery). */
  constructor(
    private readonly redis: Pick<Redis, 'time'>,
    logger?: Logger,
  ) {
    this.syncLog = logger ? logOncePerEpisode(logger, 'redis_clock_sync_failed') : null;
  }

  /** Measures the offset now. @throws when Redis can't be reached (callers start after connecting). */
  async sync(): Promise<void> {
    const before = Date.now();
    const [secs, micros] = await this.redis.time();
    const after = Date.now();
    const redisMs = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
    this.offsetMs = redisMs - Math.round((before + after) / 2);
    this.syncedAt = after;
  }

  /** Redis' time now, in ms, as this process estimates it. */
  now(): number {
    const local = Date.now();
    if (local - this.syncedAt > RESYNC_MS && !this.syncing) {
      this.syncedAt = local; // one attempt per period, even when it fails
      // A failed re-sync keeps the last offset (clocks drift slowly); it is logged once per outage.
      this.syncing = this.sync()
        .then(
          () => this.syncLog?.recovered(),
          (err: unknown) => this.syncLog?.error(err),
        )
        .finally(() => {
          this.syncing = null;
        });
    }
    return local + this.offsetMs;
  }

  /** A new seq, later than every seq this clock gave before. */
  seq(): string {
    let ms = this.now();
    if (ms <= this.lastMs) ms = this.lastMs;
    if (ms === this.lastMs) this.counter++;
    else this.counter = 0;
    if (ms !== this.lastMs || !this.msText) this.msText = `${String(ms).padStart(15, '0')}-`;
    this.lastMs = ms;
    // seqFromEventId(`${ms}-${50_000_000 + counter}`), built directly (the counter part has 8 digits); the
    // millisecond part is formatted once per millisecond (a busy worker takes a dozen seqs in one).
    return this.msText + (50_000_000 + this.counter);
  }
}
