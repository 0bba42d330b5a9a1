import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/queues/redis-keys';

/** The Redis the benches use: BENCH_REDIS_URL, else the local one. */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh key prefix (hash-tagged like the system's `{jm}`); delete it with {@link deletePrefix}. */
export function benchPrefix(name: string): string {
  return `{bench-${name}-${randomBytes(4).toString('hex')}}`;
}

export function benchRedis(): Redis {
  return new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: null });
}

/** Deletes every key under a prefix with SCAN + UNLINK (never FLUSHDB: the server is shared). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const glob = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');
  const keys = new RedisKeys(prefix);
  // The project's keys and every queue's ({name:queue} hash tags), see RedisKeys.patterns.
  for (const pattern of [`${glob(prefix)}*`, `${glob(keys.tag)}:*`, `{${glob(keys.name)}:*}:*`]) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (found.length) await redis.unlink(...found);
    } while (cursor !== '0');
  }
}
