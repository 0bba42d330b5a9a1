import { type RunUpdate, seqFromEventId } from '../../src/monitor/run';
import { Tracker } from '../../src/monitor/tracker';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';
import { ScriptedGaps, ScriptedLifecycleSource } from '../helpers/scripted-source';

/**
 * The tracker in reconcile mode (workers record their own runs): it writes only what no worker recorded.
 * Scripted events, the in-memory store, fake timers.
 */

class CountingStore extends MemoryRunStore {
  readonly writes: RunUpdate[][] = [];
  lookups = 0;
  override async apply(updates: RunUpdate[]): Promise<void> {
    this.writes.push(updates);
    return super.apply(updates);
  }
  override async statuses(ids: string[]) {
    this.lookups++;
    return super.statuses(ids);
  }
}

const GRACE = 1000;
let source: ScriptedLifecycleSource;
let gaps: ScriptedGaps;
let store: CountingStore;
let t: Tracker;
let t0: number;

/**
 * What a worker's recorder writes for a run: its seq is on the stream's clock, `afterMs` after the source's
 * start (runToCompletion's events are at +1 added, +2 active, +3 completed).
 */
async function recordedByWorker(runId: string, status: 'running' | 'completed', afterMs: number) {
  await store.apply([
    {
      run_id: runId,
      seq: seqFromEventId(`${t0 + afterMs}-50000000`),
      identity: {
        job_id: 'job_a',
        queue: 'q',
        created_at: new Date().toISOString(),
        trigger: 'manual',
        user_id: null,
      },
      patch: { status, worker: 'w:1' },
      logs: [],
    },
  ]);
  store.writes.length = 0;
}

beforeEach(async () => {
  jest.useFakeTimers();
  t0 = Date.now();
  source = new ScriptedLifecycleSource(t0);
  gaps = new ScriptedGaps();
  store = new CountingStore();
  t = new Tracker({
    queues: ['q'],
    source,
    store,
    logger: memoryLogger().logger,
    batchWindowMs: 5,
    reconcile: { graceMs: GRACE, gaps, sweepEveryMs: 60_000 },
    lookup: (ids) => store.statuses(ids),
  });
  await t.start();
});
afterEach(async () => {
  await t.stop();
  jest.useRealTimers();
});

it('writes nothing for runs their worker recorded, and moves the checkpoint past them', async () => {
  await recordedByWorker('j1', 'completed', 3);
  const evs = source.runToCompletion('q', 'j1', 'job_a', { ok: 1 });
  await jest.advanceTimersByTimeAsync(GRACE - 100);
  expect(store.lookups).toBe(0); // the grace has not passed
  await jest.advanceTimersByTimeAsync(200);
  await t.idle();
  expect(store.writes).toHaveLength(0);
  expect(t.reconciled).toBe(0);
  // No lookup at all: the end is the worker's to report, and the added run was taken (active seen).
  expect(store.lookups).toBe(0);
  expect(source.checkpoints.get('q')).toBe(evs[2].id);
  expect((await store.get('j1'))?.status).toBe('completed');
});

it('records the ends a dead worker had not written (its gap), from BullMQ, and only those', async () => {
  await recordedByWorker('j2', 'running', 2);
  source.runToCompletion('q', 'j2', 'job_a', { ok: 2 });
  await recordedByWorker('j2b', 'completed', 6);
  source.runToCompletion('q', 'j2b', 'job_a', { ok: 3 });
  source.setJob('q', 'j2', { name: 'job_a', returnvalue: { ok: 2 } });
  await jest.advanceTimersByTimeAsync(GRACE + 100);
  await t.idle();
  // The stream alone changes nothing: ends are the workers' to write.
  expect(t.reconciled).toBe(0);
  expect((await store.get('j2'))?.status).toBe('running');

  // The worker w:1 stopped beating with its ends stored up to t0: the sweep covers the gap.
  const gap = { worker: 'w:1', queues: ['q'], fromMs: t0, toMs: t0 + 60_000 };
  gaps.pending.push(gap);
  store.lookups = 0;
  await t.sweep(gaps);
  await t.idle();
  expect(t.reconciled).toBe(1);
  expect(store.lookups).toBe(1); // one store read for the gap's two ends
  expect(await store.get('j2')).toMatchObject({ status: 'completed', result: { ok: 2 }, attempts: 1 });
  expect((await store.get('j2b'))?.result).toBeNull(); // the worker's own record is left as it was
  expect(gaps.coveredGaps).toEqual([gap]);
  expect(gaps.pending).toHaveLength(0);
});

it('keeps a gap when the store is down while covering it, and covers it on the next sweep', async () => {
  await recordedByWorker('j6', 'running', 2);
  source.runToCompletion('q', 'j6', 'job_a', { ok: 6 });
  gaps.pending.push({ worker: 'w:1', queues: ['q'], fromMs: t0, toMs: t0 + 60_000 });
  const apply = store.apply.bind(store);
  store.apply = async () => {
    throw new Error('store down');
  };
  await t.sweep(gaps);
  expect(gaps.pending).toHaveLength(1);
  store.apply = apply;
  await jest.advanceTimersByTimeAsync(2000); // the tracker's own retry stores the folded end
  await t.sweep(gaps);
  await t.idle();
  expect((await store.get('j6'))?.status).toBe('completed');
  expect(gaps.pending).toHaveLength(0);
});

it('records a job added past the API that no worker took yet as pending, and only that one', async () => {
  source.setJob('q', 'j3', { name: 'job_a', data: { trigger: 'api', user_id: 'u1' } });
  source.emit('q', 'added', 'j3', { name: 'job_a' });
  await jest.advanceTimersByTimeAsync(GRACE + 100);
  await t.idle();
  expect(await store.get('j3')).toMatchObject({ status: 'pending', user_id: 'u1', job_id: 'job_a' });
  expect(store.writes.flat().map((u) => u.run_id)).toEqual(['j3']);
});

it('folds what only BullMQ knows at once: a stall after the worker wrote running puts the run back to pending', async () => {
  await recordedByWorker('j4', 'running', 0);
  source.setJob('q', 'j4', { name: 'job_a', stalls: 1 });
  source.emit('q', 'stalled', 'j4', {});
  await jest.advanceTimersByTimeAsync(20);
  await t.idle();
  expect(await store.get('j4')).toMatchObject({ status: 'pending', stalls: 1 });
  expect(store.lookups).toBe(0);
});

it('ignores a stale stall older than what the worker wrote since (its write wins by seq)', async () => {
  source.setJob('q', 'j5', { name: 'job_a', stalls: 1 });
  source.emit('q', 'stalled', 'j5', {});
  await recordedByWorker('j5', 'completed', 5);
  await jest.advanceTimersByTimeAsync(20);
  await t.idle();
  expect((await store.get('j5'))?.status).toBe('completed');
});

it('ends a removed run the store has unfinished, and makes no run of a job removed before it ever was one', async () => {
  await recordedByWorker('j7', 'running', 0);
  source.setJob('q', 'j7', { name: 'job_a' });
  source.emit('q', 'removed', 'j7', { prev: 'active' });
  // A scheduler's next slot (a delayed job, never a run) removed by a pause: no phantom "unknown" run.
  source.emit('q', 'removed', 'j8', { prev: 'delayed' });
  await jest.advanceTimersByTimeAsync(GRACE + 100);
  await t.idle();
  expect(await store.get('j7')).toMatchObject({
    status: 'failed',
    error_message: 'removed from the queue while active',
  });
  expect(await store.get('j8')).toBeNull();
});

it("a stall adds the dead worker's attempt to the timeline: start, the stall's time, its worker, outcome stalled", async () => {
  await recordedByWorker('j6', 'running', 0);
  const started = t0 - 40_000;
  source.setJob('q', 'j6', {
    name: 'job_a',
    stalls: 1,
    attemptsStarted: 1,
    processedOn: started,
    processedBy: 'host-a:11',
  });
  const ev = source.emit('q', 'stalled', 'j6', {});
  await jest.advanceTimersByTimeAsync(20);
  await t.idle();
  const run = await store.get('j6');
  expect(run?.attempts_log).toEqual([
    {
      attempt: 1,
      started_at: new Date(started).toISOString(),
      ended_at: new Date(Number(ev.id.split('-')[0])).toISOString(),
      worker: 'host-a:11',
      outcome: 'stalled',
      error: null,
    },
  ]);
});

it('a stall read after another worker took the job again is the attempt before, start and worker unknown', async () => {
  await recordedByWorker('j7', 'running', 0);
  const ev = source.emit('q', 'stalled', 'j7', {});
  // By the time the hash is read, host-b took the job: attempt 2 began after the stall.
  source.setJob('q', 'j7', {
    name: 'job_a',
    stalls: 1,
    attemptsStarted: 2,
    processedOn: Number(ev.id.split('-')[0]) + 3,
    processedBy: 'host-b:22',
  });
  await jest.advanceTimersByTimeAsync(20);
  await t.idle();
  expect((await store.get('j7'))?.attempts_log).toEqual([
    expect.objectContaining({ attempt: 1, started_at: null, worker: null, outcome: 'stalled' }),
  ]);
});

it('an end the reconciler records from BullMQ carries its attempt (the dead worker never wrote it)', async () => {
  await recordedByWorker('j8', 'running', 0);
  source.setJob('q', 'j8', { name: 'job_a', attemptsStarted: 2, processedBy: 'host-c:33' });
  source.emit('q', 'failed', 'j8', { failedReason: 'job stalled more than allowable limit' });
  await jest.advanceTimersByTimeAsync(GRACE + 100);
  await t.idle();
  expect((await store.get('j8'))?.attempts_log).toEqual([
    expect.objectContaining({
      attempt: 2,
      worker: 'host-c:33',
      outcome: 'failed',
      error: 'job stalled more than allowable limit',
    }),
  ]);
});
