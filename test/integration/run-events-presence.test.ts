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

it('a subscribe that fails (Redis frozen past the command timeout) leaves no connection behind', async () => {
  const own = new Redis(server.url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectionName: 'jm-bus',
  });
  const bus = new RedisRunEventBus(own, '{jmfail}', memoryLogger().logger);
  const admin = new Redis(server.url);
  const busClients = async () =>
    String(await admin.client('LIST'))
      .split('\n')
      .filter((l: string) => l.includes('name=jm-bus')).length;
  // The bus's own connection, then the subscriber it duplicates, frozen before it can subscribe.
  await own.ping();
  server.pause();
  try {
    await expect(bus.subscribe(() => undefined)).rejects.toThrow();
  } finally {
    server.resume();
  }
  // Once Redis answers again, only the bus's own connection is left: the failed subscriber was closed.
  expect(await waitFor(async () => (await busClients()) === 1, 5000)).toBe(true);
  await own.quit();
  await admin.quit();
});

it('a publisher whose last "nobody" is stale publishes: a page that connected during a quiet spell gets the next run', async () => {
  const prefix = '{jmstale}';
  const logs = memoryLogger();
  const publisher = new RedisRunEventBus(redis, prefix, logs.logger);
  const apiSide = new RedisRunEventBus(redis, prefix, logs.logger);
  // Nobody listens: the publisher reads so and skips.
  publisher.wanted();
  await waitFor(async () => !publisher.wanted(), 5000);
  expect(publisher.wanted()).toBe(false);
  // A page connects while nothing is published (the publisher does not read presence meanwhile).
  const got: string[] = [];
  const sub = await apiSide.subscribe((events) => got.push(...events.map((e) => e.run_id)));
  try {
    await new Promise((r) => setTimeout(r, 300));
    // The first batch after the quiet spell is wanted at once (its answer is stale), and it arrives.
    expect(publisher.wanted()).toBe(true);
    await publisher.publish([{ type: 'created', run_id: 'r-after-quiet', job_id: 'j', run: {} } as never]);
    expect(await waitFor(async () => got.includes('r-after-quiet'), 5000)).toBe(true);
  } finally {
    await sub.close();
  }
});
