import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

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
  let cursor = '0';
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
