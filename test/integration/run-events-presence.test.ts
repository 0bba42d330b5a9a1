/**
 * The live stream's presence key: an API process with live clients announces itself so publishers send
 * events. When that write fails (here: Redis out of memory), the log says so once, then says it recovered,
 * and the key is back — instead of publishers silently skipping the process's clients.
 */
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { RedisRunEventBus } from '../../src/queues/redis-run-events';
import { memoryLogger } from '../helpers/logger';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { waitFor } from '../helpers/redis';

jest.setTimeout(60_000);

let server: OwnRedis;
let redis: Redis;
beforeAll(async () => {
  server = await OwnRedis.create();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
  await stopAllRedis();
});

it('logs a failed presence write once, its recovery, and announces again', async () => {
  const logs = memoryLogger();
  const prefix = '{jmpres}';
  const presence = new RedisKeys(prefix).runEventsListeners;
  const bus = new RedisRunEventBus(redis, prefix, logs.logger);
  await redis.config('SET', 'maxmemory', '1'); // every write is refused (OOM); SUBSCRIBE still works
  const sub = await bus.subscribe(() => undefined);
  try {
    const failed = logs.lines.filter((l) => l.msg === 'run_events_presence_failed');
    expect(failed).toHaveLength(1);
    expect(String((failed[0].err as { message?: string }).message)).toMatch(/OOM/);
    expect(await redis.exists(presence)).toBe(0);

    await redis.config('SET', 'maxmemory', '0');
    const recovered = await waitFor(
      () => logs.lines.find((l) => l.msg === 'run_events_presence_failed_recovered'),
      20_000,
    );
    expect(recovered).toMatchObject({ errors: 1 });
    expect(await redis.exists(presence)).toBe(1);
  } finally {
    await sub.close();
  }
});
