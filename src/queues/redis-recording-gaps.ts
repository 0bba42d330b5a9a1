import type { Redis } from 'ioredis';
import type { GapSource, RecordingGap } from '../monitor/tracker';
import { MISSED_HEARTBEATS } from '../workers/heartbeat';
import { RedisKeys } from './redis-keys';
import { defineScript } from './redis';

/** What a worker's heartbeat writes about its recorder (see {@link RedisKeys.recorders}). */
export interface RecorderBeat {
  queues: string[];
  /** Every end this worker heard BullMQ commit with `finishedOn` up to here (its clock, ms) is stored. */
  stored_through: number;
  beat_at: number;
  interval_ms: number;
}

/** How far before a worker's `stored_through` a gap starts (clock skew between BullMQ's stamp and ours). */
const MARGIN_MS = 2000;

/** Deletes a hash field only if it still holds the value that was read (the worker did not come back). */
const DELETE_IF_SAME_LUA = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`;

/**
 * The reconciler's {@link GapSource} in Redis: a worker whose recorder entry stopped beating (killed, hung)
 * leaves the gap from its last `stored_through` to now; a recorder that dropped updates during a store
 * outage reports its gap on the `recording-gaps` list once the store is back. Entries are removed when
 * covered, so a reconciler that dies mid-way leaves them to the next one.
 */
export class RedisRecordingGaps implements GapSource {
  private readonly keys: RedisKeys;
  /** The raw value each gap was read from, to remove exactly that one. */
  private readonly raw = new WeakMap<RecordingGap, { field?: string; value: string }>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
    defineScript(redis, 'jmDeleteIfSame', { numberOfKeys: 1, lua: DELETE_IF_SAME_LUA });
  }

  async gaps(): Promise<RecordingGap[]> {
    const now = Date.now();
    const [entries, listed] = await Promise.all([
      this.redis.hgetall(this.keys.recorders),
      this.redis.lrange(this.keys.recordingGaps, 0, 99),
    ]);
    const out: RecordingGap[] = [];
    for (const [worker, value] of Object.entries(entries)) {
      const beat = parse<RecorderBeat>(value);
      if (!beat) {
        // Nothing but a heartbeat writes here; an unreadable entry is dropped rather than kept forever.
        await this.redis.hdel(this.keys.recorders, worker);
        continue;
      }
      if (beat.beat_at + beat.interval_ms * MISSED_HEARTBEATS + 1000 > now) continue; // alive
      const gap = {
        worker,
        queues: beat.queues,
        fromMs: beat.stored_through - MARGIN_MS,
        toMs: now + MARGIN_MS,
      };
      this.raw.set(gap, { field: worker, value });
      out.push(gap);
    }
    for (const value of listed) {
      const gap = parse<RecordingGap>(value);
      if (!gap) {
        await this.redis.lrem(this.keys.recordingGaps, 1, value);
        continue;
      }
      const widened = { ...gap, fromMs: gap.fromMs - MARGIN_MS, toMs: gap.toMs + MARGIN_MS };
      this.raw.set(widened, { value });
      out.push(widened);
    }
    return out;
  }

  async covered(gap: RecordingGap): Promise<void> {
    const raw = this.raw.get(gap);
    if (!raw) return;
    if (raw.field !== undefined) {
      const del = (this.redis as unknown as { jmDeleteIfSame: (...a: string[]) => Promise<number> })
        .jmDeleteIfSame;
      await del.call(this.redis, this.keys.recorders, raw.field, raw.value);
    } else {
      await this.redis.lrem(this.keys.recordingGaps, 1, raw.value);
    }
  }

  /** A recorder reports updates it dropped (ends in [fromMs, toMs] may be missing from the store). */
  async report(gap: RecordingGap): Promise<void> {
    await this.redis.rpush(this.keys.recordingGaps, JSON.stringify(gap));
  }
}

function parse<T>(value: string): T | null {
  try {
    const v = JSON.parse(value) as T;
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}
