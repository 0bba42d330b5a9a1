import { type JobRun, newRun, seqFromEventId } from '../../src/monitor/run';
import { Tracker } from '../../src/monitor/tracker';
import { BullmqLifecycleSource } from '../../src/queues/lifecycle-source';
import { bullConnection } from '../../src/queues/redis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';
import { REDIS_URL, testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem } from '../helpers/system';

/** Keys of a second tracker that keeps its own checkpoint. */
class MirrorKeys extends RedisKeys {
  override trackerCheckpoint(queue: string): string {
    return `${super.trackerCheckpoint(queue)}:mirror`;
  }
}

jest.setTimeout(60_000);

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ JOB_ATTEMPTS: '2', WORKER_CONCURRENCY: '4' });
});
afterAll(() => sys.cleanup());

const finished = (id: string) =>
  waitFor(async () => {
    const run = await sys.store.get(id);
    return run && ['completed', 'failed', 'skipped'].includes(run.status) ? run : null;
  }) as Promise<JobRun>;

describe('tracker mirrors BullMQ runs into job_runs', () => {
  it('records a progress-reporting run: running with progress, then completed with items, logs and worker', async () => {
    const { run_id } = await sys.service.trigger('counted_job', { trigger: 'manual', user_id: 'u42' });
    const pending = await sys.store.get(run_id);
    expect(pending).toMatchObject({ run_id, job_id: 'counted_job', trigger: 'manual', user_id: 'u42' });

    const run = await finished(run_id);
    expect(run).toMatchObject({
      status: 'completed',
      progress: 100,
      processed_items: 20,
      total_items: 20,
      attempts: 1,
      trigger: 'manual',
      user_id: 'u42',
      result: { items: 20 },
      error_message: null,
    });
    expect(run.worker).toMatch(/^.+:\d+$/);
    expect(Date.parse(run.ended_at!)).toBeGreaterThanOrEqual(Date.parse(run.started_at!));
    expect(run.duration_ms).toBeGreaterThanOrEqual(90);
    expect(run.logs.map((l) => l.message)).toEqual(Array.from({ length: 20 }, (_, i) => `item ${i + 1}`));
    expect(run.logs[0]).toEqual({ time: expect.any(String), level: 'info', message: 'item 1' });
  });

  it('records a failed run with its error after the last attempt', async () => {
    const { run_id } = await sys.service.trigger('boom_job');
    const run = await finished(run_id);
    expect(run).toMatchObject({ status: 'failed', error_message: 'provider said no', attempts: 2 });
    expect(run.ended_at).not.toBeNull();
    const errors = run.logs.filter((l) => l.level === 'error').map((l) => l.message);
    expect(errors).toEqual(['attempt 1 failed: provider said no', 'attempt 2 failed: provider said no']);
  });

  it('records a retried run that succeeds on the second attempt', async () => {
    const { run_id } = await sys.service.trigger('flaky_job');
    const run = await finished(run_id);
    expect(run).toMatchObject({ status: 'completed', attempts: 2, result: { attempt: 2 } });
    expect(run.logs.map((l) => l.message)).toContain('attempt 1 failed: transient failure on attempt 1');
  });

  it('keeps the last 50 of 120 log lines, even for a run that finishes in milliseconds', async () => {
    const { run_id } = await sys.service.trigger('chatty_job');
    const run = await finished(run_id);
    expect(run.logs).toHaveLength(50);
    expect(run.logs[0].message).toBe('line 71');
    expect(run.logs[49].message).toBe('line 120');
  });

  it('records dynamic jobs enqueued by application code with trigger api and the user', async () => {
    const { run_id } = await sys.service.enqueueDynamic('dyn_job', { file: 'a.txt' }, { user_id: 'u9' });
    const run = await finished(run_id);
    expect(run).toMatchObject({ job_id: 'dyn_job', trigger: 'api', user_id: 'u9', status: 'completed' });
    expect(run.result).toEqual({ ok: true, data: { file: 'a.txt' } });
  });

  it('refuses a second run of a non-concurrent job while one is active', async () => {
    const first = await sys.service.trigger('quick_job');
    // The first run is pending or running now; a second trigger is refused with its run id.
    await expect(sys.service.trigger('quick_job')).rejects.toMatchObject({
      code: 'job_already_running',
      extra: { run_id: first.run_id },
    });
    await finished(first.run_id);
    const again = await sys.service.trigger('quick_job');
    expect(again.run_id).not.toBe(first.run_id);
    await finished(again.run_id);
  });
});

describe('tracker restarts and duplicates', () => {
  it('runs are recorded by their workers while no tracker runs, and two trackers replaying the stream corrupt nothing', async () => {
    await sys.tracker!.stop();
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push((await sys.service.enqueueDynamic('dyn_job', { i })).run_id);
    const chatty = await sys.service.trigger('chatty_job');
    // Let the workers finish everything while no tracker listens.
    const redis = testRedis();
    await waitFor(
      async () => (await redis.zcard(new RedisKeys(sys.prefix).queueKey('tq', 'completed'))) >= 16 + 0,
      20_000,
    );
    // The workers recorded every run themselves: nothing waits for a tracker.
    for (const id of ids) expect((await finished(id)).status).toBe('completed');

    // Two trackers (every event folded, the pre-#16 mode) resume from the same checkpoint and replay the same
    // events over what the workers wrote: older events change nothing, no log line doubles.
    const mk = () =>
      new Tracker({
        queues: ['tq'],
        source: new BullmqLifecycleSource(redis, bullConnection(REDIS_URL), sys.prefix),
        store: sys.store,
        logger: memoryLogger().logger,
      });
    const a = mk();
    const b = mk();
    await Promise.all([a.start(), b.start()]);
    for (const id of ids) {
      const run = await finished(id);
      // Enqueued by application code that names no caller: triggered_by app.
      expect(run).toMatchObject({
        status: 'completed',
        attempts: 1,
        logs: [{ message: 'quick ran' }],
        triggered_by: 'app',
      });
    }
    const c = await finished(chatty.run_id);
    expect(c.logs).toHaveLength(50);
    expect(new Set(c.logs.map((l) => l.message)).size).toBe(50);
    expect(c.logs[49].message).toBe('line 120');
    await Promise.all([a.stop(), b.stop()]);
    await redis.quit();
  });
});

describe('one writer: a policy failure mark is an event in the queue stream', () => {
  it('markRunFailed stores the run failed at once, with the stream id of its jm:failed event, which a tracker folds the same way', async () => {
    const run = newRun('ghost-1', {
      job_id: 'dyn_job',
      queue: 'tq',
      created_at: new Date().toISOString(),
      trigger: 'api',
      user_id: 'u5',
    });
    await sys.service.markRunFailed(run, 'queued 301 s without worker pickup');
    const stored = await sys.store.get('ghost-1');
    expect(stored).toMatchObject({ status: 'failed', error_message: 'queued 301 s without worker pickup' });

    const redis = testRedis();
    const entries = await redis.xrange(new RedisKeys(sys.prefix).queueKey('tq', 'events'), '-', '+');
    const mark = entries.find(([, f]) => f.includes('jm:failed') && f.includes('ghost-1'));
    expect(mark).toBeDefined();
    expect(stored?.seq).toBe(seqFromEventId(mark![0]));

    // A tracker reading the real stream from the start folds the same event into the same run.
    const mirror = new MemoryRunStore();
    const t = new Tracker({
      queues: ['tq'],
      // Its own checkpoint, so it reads the stream from the start beside the system's tracker.
      source: new BullmqLifecycleSource(
        redis,
        bullConnection(REDIS_URL),
        sys.prefix,
        new MirrorKeys(sys.prefix),
      ),
      store: mirror,
      logger: memoryLogger().logger,
    });
    await t.start();
    const folded = await waitFor(() => mirror.get('ghost-1'));
    await t.stop();
    await redis.quit();
    expect(folded).toMatchObject({
      status: 'failed',
      error_message: 'queued 301 s without worker pickup',
      seq: stored?.seq,
      ended_at: stored?.ended_at,
    });
  });
});
