import { RedisEventBus } from '../../src/events/redis-event-bus';
import { RedisEventConsumer } from '../../src/events/redis-event-consumer';
import { RedisLock, releaseIfHolder, takeOrHolder } from '../../src/queues/redis-lock';
import type { MonitorEvent } from '../../src/monitor/events';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis';

jest.setTimeout(30_000);
const redis = testRedis();
const prefix = uniquePrefix('events');
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('monitor lock', () => {
  it('lets one holder at a time scan, and another take over when the holder dies', async () => {
    const key = `${prefix}:lock`;
    const holder = new RedisLock(redis, key, 600);
    const other = new RedisLock(redis, key, 600);
    expect(await holder.acquire()).toBe(true);
    expect(await other.acquire()).toBe(false);
    expect(await holder.acquire()).toBe(true); // renewal
    // The holder dies (stops renewing): once the expiry passes, the other takes it.
    expect(await waitFor(() => other.acquire(), 5000)).toBe(true);
    expect(await holder.acquire()).toBe(false);
    await other.release();
    expect(await holder.acquire()).toBe(true);
  });

  it('takeOrHolder answers the holder, takes over only a holder with the given prefix; release is by token', async () => {
    const key = `${prefix}:claim`;
    expect(await takeOrHolder(redis, key, 'pending:a', 60_000)).toBeNull();
    expect(await takeOrHolder(redis, key, 'pending:b', 60_000)).toBe('pending:a');
    expect(await takeOrHolder(redis, key, 'pending:b', 60_000, { takeOverPrefix: 'pending:' })).toBeNull();
    expect(await releaseIfHolder(redis, key, 'pending:a')).toBe(false);
    expect(await redis.get(key)).toBe('pending:b');
    await redis.set(key, 'run-2');
    expect(await takeOrHolder(redis, key, 'pending:c', 60_000, { takeOverPrefix: 'pending:' })).toBe('run-2');
    expect(await releaseIfHolder(redis, key, 'run-2')).toBe(true);
    expect(await redis.exists(key)).toBe(0);
  });
});

describe('event stream', () => {
  it('hands each event to exactly one of several consumers, and emitOnce publishes once per key', async () => {
    const busA = new RedisEventBus(redis, prefix);
    const busB = new RedisEventBus(redis, prefix);
    const got: { consumer: string; ev: MonitorEvent }[] = [];
    const consumers = [0, 1].map(
      () =>
        new RedisEventConsumer({
          redis: redis.duplicate(),
          prefix,
          logger: memoryLogger().logger,
          blockMs: 200,
        }),
    );
    for (const c of consumers) await c.start(async (ev) => void got.push({ consumer: c.consumer, ev }));
    for (let i = 0; i < 20; i++)
      await (i % 2 ? busA : busB).emit('job_failed', { job_id: `j${i}`, attempts: i });
    // Two trackers report the same failure: one event.
    const once = await Promise.all([
      busA.emitOnce('failed:r1', 60, 'job_failed', { run_id: 'r1' }),
      busB.emitOnce('failed:r1', 60, 'job_failed', { run_id: 'r1' }),
    ]);
    expect(once.sort()).toEqual([false, true]);
    await waitFor(() => got.length >= 21, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toHaveLength(21);
    expect(new Set(got.map((g) => g.ev.id)).size).toBe(21);
    expect(got.find((g) => g.ev.fields.job_id === 'j7')?.ev).toMatchObject({
      name: 'job_failed',
      fields: { attempts: 7 },
    });
    // After forget, the next episode is published again.
    await busA.forget('failed:r1');
    expect(await busB.emitOnce('failed:r1', 60, 'job_failed', { run_id: 'r1' })).toBe(true);
    await Promise.all(consumers.map((c) => c.stop()));
  });

  it("deletes consumers of ended processes (idle, nothing pending) and keeps the others'", async () => {
    const p3 = uniquePrefix('events3');
    const stream = `${p3}:events`;
    const bus = new RedisEventBus(redis, p3);
    await redis.xgroup('CREATE', stream, 'alerts', '0', 'MKSTREAM');
    await bus.emit('job_failed', { job_id: 'a' });
    await bus.emit('job_failed', { job_id: 'b' });
    // Two earlier processes: one read an event and died before acknowledging it, one read its event fully.
    await redis.xreadgroup('GROUP', 'alerts', 'dead-with-pending', 'COUNT', 1, 'STREAMS', stream, '>');
    const [[, [[doneId]]]] = (await redis.xreadgroup(
      'GROUP',
      'alerts',
      'dead-idle',
      'COUNT',
      1,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][];
    await redis.xack(stream, 'alerts', doneId);
    await new Promise((r) => setTimeout(r, 300));
    const logs = memoryLogger();
    const consumer = new RedisEventConsumer({
      redis: redis.duplicate(),
      prefix: p3,
      logger: logs.logger,
      blockMs: 100,
      pruneIdleMs: 200,
      claimIdleMs: 60_000,
    });
    await consumer.start(async () => undefined);
    const names = async () =>
      ((await redis.xinfo('CONSUMERS', stream, 'alerts')) as unknown[][]).map((row) => String(row[1])).sort();
    // The idle one without pending events is gone; the one holding an unacknowledged event stays (to be claimed).
    expect(await names()).toEqual(expect.arrayContaining(['dead-with-pending']));
    expect(await names()).not.toContain('dead-idle');
    expect(logs.lines.some((l) => l.msg === 'event_consumers_pruned' && l.consumers === 1)).toBe(true);
    await consumer.stop();
    await deletePrefix(redis, p3);
  });

  it('redelivers an event whose handler failed (claimed after the idle time)', async () => {
    const p2 = uniquePrefix('events2');
    const bus = new RedisEventBus(redis, p2);
    const consumer = new RedisEventConsumer({
      redis: redis.duplicate(),
      prefix: p2,
      logger: memoryLogger().logger,
      blockMs: 100,
      claimIdleMs: 300,
    });
    let calls = 0;
    await consumer.start(async () => {
      calls++;
      if (calls === 1) throw new Error('Redis blip while taking the cooldown');
    });
    await bus.emit('job_stuck', { job_id: 'x' });
    expect(await waitFor(() => calls >= 2, 10_000)).toBe(true);
    await consumer.stop();
    expect(await redis.xpending(`${p2}:events`, 'alerts')).toEqual([0, null, null, null]);
    await deletePrefix(redis, p2);
  });
});
