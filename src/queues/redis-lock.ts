import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MonitorLock } from '../monitor/stuck-monitor';

/**
 * The one "first caller wins" primitive of the project: `SET KEYS[1] ARGV[1] NX PX ARGV[2]`. Locks
 * (stuck monitor, `allow_concurrent: false` runs, bulk actions), alert cooldowns and `emitOnce` are all this
 * command ({@link RedisLock}, {@link takeOnce}); a marker that never expires (a `once` job enqueued) is the same
 * command without PX ({@link takeForever}); a claim that answers who holds it and may take over an abandoned
 * holder is {@link takeOrHolder} (retry claims). Scripts that do more once the key is taken start with
 * {@link ONCE_GUARD_LUA} (their own arguments start at ARGV[3]). Nothing else writes SET NX; a holder gives the
 * key back with {@link releaseIfHolder}.
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

/**
 * SET NX PX; when the key is held by a value starting with ARGV[3] (non-empty), replace it (SET PX). Returns nil
 * when this caller took the key, else the holder's value.
 */
const TAKE_OR_HOLDER_LUA = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local cur = redis.call('GET', KEYS[1])
if ARGV[3] ~= '' and string.sub(cur, 1, string.len(ARGV[3])) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return cur`;

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
 * {@link takeOnce} that also answers who holds the key: null when this caller took it (`value`, expiring after
 * `ms`), else the holder's value. With `takeOverPrefix`, a holder whose value starts with it is replaced by this
 * caller, in the same atomic step (a claim whose maker may have died and whose work is safe to redo). Use it
 * when a refused caller needs the holder's value (retry claims answer the retry's run id).
 */
export async function takeOrHolder(
  redis: Redis,
  key: string,
  value: string,
  ms: number,
  opts: { takeOverPrefix?: string } = {},
): Promise<string | null> {
  return (await redis.eval(TAKE_OR_HOLDER_LUA, 1, key, value, ttlMs(ms), opts.takeOverPrefix ?? '')) as
    | string
    | null;
}

/**
 * Deletes `key` only while it still holds `token` (a key that expired and was taken again stays with its new
 * holder). True when it was deleted. The release of {@link RedisLock} and of every token-held key.
 */
export async function releaseIfHolder(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await redis.eval(RELEASE_LUA, 1, key, token)) === 1;
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
    await releaseIfHolder(this.redis, this.key, this.token);
  }
}
