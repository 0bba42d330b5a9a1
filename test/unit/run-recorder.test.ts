import type { Job } from 'bullmq';
import { CANCELLED_REASON_PREFIX } from '../../src/monitor/lifecycle';
import type { RunIdentity, RunUpdate } from '../../src/monitor/run';
import { RunWriter } from '../../src/monitor/run-writer';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { RunRecorder } from '../../src/workers/run-recorder';
import { memoryLogger } from '../helpers/logger';

/**
 * The worker-side recorder: a run's start, progress, logs and end become batched writes through the one
 * writer. In-memory store, a counting clock, fake timers.
 */

class Store extends MemoryRunStore {
  readonly writes: RunUpdate[][] = [];
  down = false;
  override async apply(updates: RunUpdate[]): Promise<void> {
    if (this.down) throw new Error('store unreachable');
    this.writes.push(updates);
    return super.apply(updates);
  }
}

let ms = 1_800_000_000_000;
const clock = {
  now: () => ms,
  seq: () => `${String(++ms).padStart(15, '0')}-50000000`,
};

function job(id: string, over: Partial<Job> = {}): Job {
  return {
    id,
    name: 'job_a',
    data: { trigger: 'manual', user_id: 'u1', payload: { call_sid: 'CA1', other: 'x' } },
    timestamp: ms,
    delay: 0,
    processedOn: ms + 1,
    finishedOn: undefined,
    attemptsMade: 0,
    attemptsStarted: 1,
    stalledCounter: 0,
    ...over,
  } as unknown as Job;
}

const def = {
  job_id: 'job_a',
  queue: 'q',
  search_keys: ['call_sid'],
} as unknown as Parameters<RunRecorder['identityOf']>[1];

let store: Store;
let log: ReturnType<typeof memoryLogger>;
let rec: RunRecorder;

beforeEach(() => {
  jest.useFakeTimers();
  store = new Store();
  log = memoryLogger();
  rec = new RunRecorder({
    writer: new RunWriter(store),
    clock,
    logger: log.logger,
    worker: 'host:1',
    flushMs: 10,
  });
});
afterEach(async () => {
  store.down = false;
  await rec.stop();
  jest.useRealTimers();
});

it('a short run is one merged write: created already completed, with its attempt and search terms', async () => {
  const j = job('r1');
  const identity: RunIdentity = rec.identityOf(j, def);
  expect(identity.search).toEqual(['ca1']);
  rec.started(j, identity);
  rec.log('r1', identity, [{ time: new Date(ms).toISOString(), level: 'info', message: 'hello' }]);
  rec.completed(job('r1', { finishedOn: ms + 5, attemptsMade: 1 }), identity, { ok: true });
  await jest.advanceTimersByTimeAsync(10);
  await rec.idle();
  expect(store.writes).toHaveLength(1);
  expect(store.writes[0]).toHaveLength(1);
  const run = await store.get('r1');
  expect(run).toMatchObject({
    status: 'completed',
    progress: 100,
    worker: 'host:1',
    user_id: 'u1',
    trigger: 'manual',
    attempts: 1,
    result: { ok: true },
    duration_ms: 4,
  });
  expect(run?.logs.map((l) => l.message)).toEqual(['hello']);
  expect(run?.attempts_log).toEqual([
    expect.objectContaining({ attempt: 1, outcome: 'completed', worker: 'host:1', error: null }),
  ]);
});

it('a failed attempt with retries left is pending with its error and stack; the last one is failed', async () => {
  const identity = rec.identityOf(job('r2'), def);
  rec.started(job('r2'), identity);
  rec.failed(job('r2', { attemptsMade: 1 }), identity, new Error('boom'));
  await jest.advanceTimersByTimeAsync(10);
  await rec.idle();
  expect(await store.get('r2')).toMatchObject({ status: 'pending', error_message: 'boom' });
  expect((await store.get('r2'))?.error_stack).toMatch(/^Error: boom\n\s+at /);

  rec.started(job('r2', { attemptsStarted: 2, attemptsMade: 1 }), identity);
  rec.failed(
    job('r2', { attemptsStarted: 2, attemptsMade: 2, finishedOn: ms + 9 }),
    identity,
    new Error('boom 2'),
  );
  await jest.advanceTimersByTimeAsync(10);
  await rec.idle();
  const run = await store.get('r2');
  expect(run).toMatchObject({ status: 'failed', error_message: 'boom 2', attempts: 2 });
  expect(run?.attempts_log.map((a) => [a.attempt, a.outcome, a.error])).toEqual([
    [1, 'failed', 'boom'],
    [2, 'failed', 'boom 2'],
  ]);
});

it('a cancelled attempt ends as cancelled, not failed', async () => {
  const identity = rec.identityOf(job('r3'), def);
  rec.started(job('r3'), identity);
  rec.failed(
    job('r3', { finishedOn: ms + 2, attemptsMade: 1 }),
    identity,
    new Error(`${CANCELLED_REASON_PREFIX} cancelled by ops`),
  );
  await jest.advanceTimersByTimeAsync(10);
  await rec.idle();
  expect(await store.get('r3')).toMatchObject({ status: 'cancelled' });
});

it('keeps the runs while the store is down and writes them once it is back', async () => {
  store.down = true;
  const identity = rec.identityOf(job('r4'), def);
  rec.started(job('r4'), identity);
  rec.completed(job('r4', { finishedOn: ms + 3, attemptsMade: 1 }), identity, null);
  await jest.advanceTimersByTimeAsync(10);
  expect(log.lines.some((l) => l.msg === 'recorder_store_write_failed')).toBe(true);
  expect(rec.bufferedRuns()).toBe(1);
  store.down = false;
  await jest.advanceTimersByTimeAsync(30_000);
  await rec.idle();
  expect((await store.get('r4'))?.status).toBe('completed');
  expect(log.lines.some((l) => l.msg === 'recorder_store_recovered')).toBe(true);
});

it('tells its listeners what it stored, after the write', async () => {
  const seen: string[] = [];
  rec.onApplied((updates) => seen.push(...updates.map((u) => `${u.run_id}:${u.patch.status}`)));
  const identity = rec.identityOf(job('r5'), def);
  rec.started(job('r5'), identity);
  await jest.advanceTimersByTimeAsync(10);
  expect(seen).toEqual([]); // a start alone waits (startDelayMs, 100 ms by default)
  await jest.advanceTimersByTimeAsync(100);
  expect(seen).toEqual(['r5:running']);
});

it('writes a start alone only after startDelayMs; a run that ends sooner costs one write', async () => {
  const quick = job('q1');
  const idQ = rec.identityOf(quick, def);
  rec.started(quick, idQ);
  await jest.advanceTimersByTimeAsync(50);
  rec.completed(job('q1', { finishedOn: ms + 5, attemptsMade: 1 }), idQ, null);
  const slow = job('s1');
  rec.started(slow, rec.identityOf(slow, def));
  await jest.advanceTimersByTimeAsync(20);
  expect(store.writes.map((w) => w.map((u) => `${u.run_id}:${u.patch.status}`))).toEqual([['q1:completed']]);
  expect((await store.get('q1'))?.started_at).not.toBeNull();
  await jest.advanceTimersByTimeAsync(100);
  expect(store.writes.flat().map((u) => `${u.run_id}:${u.patch.status}`)).toEqual([
    'q1:completed',
    's1:running',
  ]);
});

describe('what the heartbeat publishes for the reconciler (storedThrough, gaps)', () => {
  function recorderWithGaps() {
    const gaps: [number, number][] = [];
    const r = new RunRecorder({
      writer: new RunWriter(store),
      clock,
      logger: log.logger,
      worker: 'w:1',
      maxBufferedRuns: 2,
      startDelayMs: 0,
      onGap: async (from, to) => {
        gaps.push([from, to]);
      },
    });
    return { r, gaps };
  }

  it('is now when nothing waits, and the last stored batch while updates wait for a store that is down', async () => {
    const { r } = recorderWithGaps();
    await jest.advanceTimersByTimeAsync(1000);
    const idle = r.storedThrough();
    expect(idle).toBe(Date.now());
    store.down = true;
    r.started(job('a1'), r.identityOf(job('a1'), def));
    await jest.advanceTimersByTimeAsync(5000);
    expect(r.storedThrough()).toBeLessThanOrEqual(idle);
    expect(r.unsettled()).toBe(true);
    await r.stop();
  });

  it('reports the span of dropped updates once the store is back, and holds storedThrough before it until then', async () => {
    const { r, gaps } = recorderWithGaps();
    const before = Date.now();
    store.down = true;
    for (const id of ['d1', 'd2', 'd3', 'd4']) r.started(job(id), r.identityOf(job(id), def));
    expect(r.dropped).toBe(2);
    expect(r.storedThrough()).toBeLessThanOrEqual(before);
    await jest.advanceTimersByTimeAsync(1000);
    expect(gaps).toEqual([]); // not while the store is down
    store.down = false;
    await jest.advanceTimersByTimeAsync(30_000);
    await r.idle();
    expect(gaps).toHaveLength(1);
    const [from, to] = gaps[0];
    expect(from).toBeLessThanOrEqual(before);
    expect(to).toBeGreaterThan(before);
    expect(r.unsettled()).toBe(false);
    expect(r.storedThrough()).toBe(Date.now());
    expect(log.events()).toContain('recorder_gap_reported');
    await r.stop();
  });

  it('reports a gap around BullMQ trouble once it has been quiet for a while (a commit whose reply was lost)', async () => {
    const { r, gaps } = recorderWithGaps();
    const t = Date.now();
    r.uncertain();
    await jest.advanceTimersByTimeAsync(2000);
    r.uncertain(); // trouble goes on: the span grows
    expect(r.storedThrough()).toBeLessThanOrEqual(t - 30_000);
    await jest.advanceTimersByTimeAsync(4000);
    expect(gaps).toEqual([]);
    await jest.advanceTimersByTimeAsync(2000);
    expect(gaps).toEqual([[t - 30_000, t + 2000 + 5000]]);
    expect(r.unsettled()).toBe(false);
    await r.stop();
  });

  it('reports an open gap at once when it stops', async () => {
    const { r, gaps } = recorderWithGaps();
    r.uncertain();
    await r.stop();
    expect(gaps).toHaveLength(1);
    expect(r.unsettled()).toBe(false);
  });
});
