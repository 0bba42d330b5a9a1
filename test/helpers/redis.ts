import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/queues/redis-keys';

/** The Redis the tests use (CI starts one on 127.0.0.1:6379 when none answers). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test file uses; a hash tag so BullMQ keys share one slot. */
export function uniquePrefix(name: string): string {
  return `{t-${name}-${randomBytes(4).toString('hex')}}`;
}

export function testRedis(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * Deletes every key of a prefix: the project's keys and every queue's (see RedisKeys.patterns), and
 * anything else a test put under it (never FLUSHDB: other test files share the server).
 */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  for (const pattern of [`${prefix}*`, ...new RedisKeys(prefix).patterns]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

/** Polls `fn` until it returns a truthy value or the time is up; returns the last value. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!last && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs));
    last = await fn();
  }
  return last;
}
