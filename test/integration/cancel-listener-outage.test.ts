/**
 * A worker's cancel subscriber while Redis is down: it errors on every reconnect attempt, and the log says so
 * once per outage (not once per attempt, not never), then says it recovered; cancel requests work again after.
 */
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { CancelListener } from '../../src/workers/cancel-listener';
import { memoryLogger } from '../helpers/logger';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { waitFor } from '../helpers/redis';

jest.setTimeout(60_000);

let server: OwnRedis;
let conn: Redis;
let listener: CancelListener;
const logs = memoryLogger();
const cancelled: string[] = [];
const prefix = '{jmcl}';

beforeAll(async () => {
  server = await OwnRedis.create();
  conn = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  listener = new CancelListener(
    conn,
    prefix,
    {
      cancel: (runId) => {
        cancelled.push(runId);
        return true;
      },
      runningIds: () => [],
    },
    logs.logger,
  );
  await listener.start();
});
afterAll(async () => {
  await listener.stop();
  await conn.quit();
  await stopAllRedis();
});

it('logs a reconnecting subscriber once per outage, then its recovery; cancels arrive again', async () => {
  // Count the subscriber connection's own errors (the listener duplicates `conn`).
  const sub = (listener as unknown as { sub: Redis }).sub;
  let errors = 0;
  sub.on('error', () => errors++);

  await server.stop('SIGKILL');
  await waitFor(() => errors >= 5, 30_000);
  const errorLines = () => logs.lines.filter((l) => l.msg === 'cancel_listener_error');
  expect(errorLines()).toHaveLength(1);
  expect(errorLines()[0]).toMatchObject({ level: 40, err: { message: expect.any(String) } });

  await server.start();
  const recovered = await waitFor(
    () => logs.lines.find((l) => l.msg === 'cancel_listener_error_recovered'),
    30_000,
  );
  expect(recovered?.errors).toBeGreaterThanOrEqual(5);
  expect(errorLines()).toHaveLength(1);

  const pub = new Redis(server.url);
  try {
    const channel = new RedisKeys(prefix).cancelChannel;
    await waitFor(async () => {
      await pub.publish(channel, JSON.stringify({ run_id: 'r-after', by: 'ops' }));
      return cancelled.includes('r-after');
    });
  } finally {
    await pub.quit();
  }
});
