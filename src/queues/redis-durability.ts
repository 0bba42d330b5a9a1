import type { Redis } from 'ioredis';

/**
 * What in this Redis's configuration can lose the system's data: an eviction policy other than `noeviction`
 * (Redis drops BullMQ jobs and runs under memory pressure) or no persistence (no AOF and no RDB save points:
 * a restart forgets everything). One sentence per finding; empty when durable. When `CONFIG GET` is refused
 * (managed Redis), says that it could not check.
 */
export async function redisDurabilityWarnings(redis: Redis): Promise<string[]> {
  let policy: string | undefined;
  let aof: string | undefined;
  let save: string | undefined;
  try {
    const [p, a, s] = await Promise.all([
      redis.config('GET', 'maxmemory-policy'),
      redis.config('GET', 'appendonly'),
      redis.config('GET', 'save'),
    ]);
    policy = (p as string[])[1];
    aof = (a as string[])[1];
    save = (s as string[])[1];
  } catch (err) {
    return [
      `could not read the Redis configuration (CONFIG GET: ${(err as Error).message}); check eviction and persistence by hand`,
    ];
  }
  const out: string[] = [];
  if (policy !== undefined && policy !== 'noeviction') {
    out.push(
      `Redis maxmemory-policy is ${policy}: under memory pressure Redis deletes jobs and runs; set noeviction`,
    );
  }
  if (aof !== 'yes' && !save?.trim()) {
    out.push(
      'Redis has no persistence (appendonly no, no save points): a restart loses every job and run; turn on AOF',
    );
  }
  return out;
}
