import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for this system. `maxRetriesPerRequest: null` is what BullMQ needs for workers;
 * `enableOfflineQueue: false` makes API calls fail fast (503) while Redis is away instead of hanging.
 */
export function createRedis(url: string, opts: RedisOptions & { failFast?: boolean } = {}): Redis {
  const { failFast, ...rest } = opts;
  return new Redis(url, {
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: !failFast,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    connectionName: 'jobs-monitor',
    ...rest,
  });
}

/** Connection options BullMQ turns into its own (blocking) connections. */
export function bullConnection(url: string) {
  return {
    url,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
}

/** Resolves once the connection is ready (a fail-fast connection refuses commands before that). */
export function waitReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not reachable after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
