import type { Redis } from 'ioredis';
import type { BulkState, BulkStore } from '../monitor/bulk';
import { RedisKeys } from './redis-keys';
import { RedisLock } from './redis-lock';

const KEEP_SECONDS = 7 * 86_400;

/**
 * Bulk action states in Redis: `{jm}:bulk:<id>` (JSON, kept 7 days) and the set `{jm}:bulk:pending` of
 * unfinished ones; a per-bulk lock (`{jm}:bulk:<id>:lock`, expiring after `lockMs` unless renewed after each
 * run) keeps two API processes from working on the same one, and lets another take over when its holder dies.
 */
export class RedisBulkStore implements BulkStore {
  private readonly keys: RedisKeys;
  private readonly locks = new Map<string, RedisLock>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly lockMs = 60_000,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  async save(state: BulkState): Promise<void> {
    const multi = this.redis
      .multi()
      .set(this.keys.bulk(state.bulk_id), JSON.stringify(state), 'EX', KEEP_SECONDS);
    if (state.status !== 'done') multi.sadd(this.keys.bulkPending, state.bulk_id);
    await multi.exec();
  }

  async renew(id: string): Promise<boolean> {
    return (await this.locks.get(id)?.acquire()) ?? false;
  }

  async get(id: string): Promise<BulkState | null> {
    const raw = await this.redis.get(this.keys.bulk(id));
    return raw ? (JSON.parse(raw) as BulkState) : null;
  }

  pending(): Promise<string[]> {
    return this.redis.smembers(this.keys.bulkPending);
  }

  async finished(id: string): Promise<void> {
    await this.redis.srem(this.keys.bulkPending, id);
  }

  async claim(id: string): Promise<boolean> {
    const lock = new RedisLock(this.redis, this.keys.bulkLock(id), this.lockMs);
    if (!(await lock.acquire())) return false;
    this.locks.set(id, lock);
    return true;
  }

  async release(id: string): Promise<void> {
    const lock = this.locks.get(id);
    this.locks.delete(id);
    await lock?.release();
  }
}
