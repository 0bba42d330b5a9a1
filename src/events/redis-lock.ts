import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MonitorLock } from '../monitor/stuck-monitor';

const ACQUIRE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not cur and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A lock with expiry in Redis: the holder extends it on every acquire(); when the holder dies the key
 * expires after `ttlMs` and the next process to ask takes it.
 */
export class RedisLock implements MonitorLock {
  /** This holder's token (unique per instance). */
  readonly token = randomBytes(8).toString('hex');

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {}

  async acquire(): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE_LUA, 1, this.key, this.token, Math.round(this.ttlMs))) === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.key, this.token);
  }
}
