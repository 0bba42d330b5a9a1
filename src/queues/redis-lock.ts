import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MonitorLock } from '../monitor/stuck-monitor';

/**
 * The one "first caller wins" primitive of the project: `SET KEYS[1] ARGV[1] NX PX ARGV[2]`. Locks
 * (stuck monitor, `allow_concurrent: false` runs, bulk actions), alert cooldowns and `emitOnce` are all this
 * command ({@link RedisLock}, {@link takeOnce}); a marker that never expires (a `once` job enqueued) is the same
 * command without PX ({@link takeForever}). Scripts that do more once the key is taken start with
 * {@link ONCE_GUARD_LUA} (their own arguments start at ARGV[3]). Nothing else writes SET NX.
 */
export const ONCE_GUARD_LUA = `if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
`;

/** Take, or extend when this token already holds it. */
const ACQUIRE_LUA = `local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not cur and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

/** Delete only when this token still holds it (a lock that expired and was retaken stays with its new holder). */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Time to live in whole milliseconds, at least 1 (PX 0 is an error). */
export function ttlMs(ms: number): number {
  return Math.max(1, Math.round(ms));
}

/** SET NX PX: true for the first caller while the key lives (cooldowns, count-once markers, locks). */
export async function takeOnce(redis: Redis, key: string, ms: number, value = '1'): Promise<boolean> {
  return (await redis.set(key, value, 'PX', ttlMs(ms), 'NX')) === 'OK';
}

/**
 * SET NX without expiry: true for the first caller for as long as the key exists (the scheduler's marker of a
 * `once` job already enqueued: deleting the key by hand enqueues it again).
 */
export async function takeForever(redis: Redis, key: string, value = '1'): Promise<boolean> {
  return (await redis.set(key, value, 'NX')) === 'OK';
}

/**
 * A lock with expiry in Redis, owned by a token: `acquire()` takes it or extends it for its holder;
 * when the holder dies the key expires after `ttlMs` and the next caller takes it. `release()` deletes it
 * only while this token holds it.
 */
export class RedisLock implements MonitorLock {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
    /** This holder's token: unique per instance unless given (e.g. the run id holding a job lock). */
    readonly token = randomBytes(8).toString('hex'),
  ) {}

  async acquire(): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE_LUA, 1, this.key, this.token, ttlMs(this.ttlMs))) === 1;
  }

  /** The token holding the lock now, or null. */
  holder(): Promise<string | null> {
    return this.redis.get(this.key);
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.key, this.token);
  }
}
