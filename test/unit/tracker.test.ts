import type { RunUpdate } from '../../src/monitor/run';
import { Tracker } from '../../src/monitor/tracker';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';
import { ScriptedLifecycleSource } from '../helpers/scripted-source';

/**
 * The tracker's own logic (batching, checkpoints, backoff, buffer) on a scripted event source and the
 * in-memory store, under fake timers: no Redis, milliseconds per test. The BullMQ adapter itself is tested
 * on real Redis in test/integration/tracker.test.ts.
 */

/** The memory store, with an outage switch and a gate that holds writes until the test opens it. */
class TestStore extends MemoryRunStore {
  down = false;
  readonly calls: RunUpdate[][] = [];
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = null;
  }

  override async apply(updates: RunUpdate[]): Promise<void> {
    this.calls.push(updates);
    if (this.gate) await this.gate;
    if (this.down) throw new Error('store unreachable');
    return super.apply(updates);
  }
}

const WINDOW = 25;
let source: ScriptedLifecycleSource;
let store: TestStore;
let log: ReturnType<typeof memoryLogger>;
const trackers: Tracker[] = [];

function tracker(over: Partial<ConstructorParameters<typeof Tracker>[0]> = {}): Tracker {
  const t = new Tracker({
    queues: ['q'],
    source,
    store,
    logger: log.logger,
    batchWindowMs: WINDOW,
    ...over,
  });
  trackers.push(t);
  return t;
}

const logged = (msg: string) => log.lines.filter((l) => l.msg === msg);

beforeEach(() => {
  jest.useFakeTimers();
  source = new ScriptedLifecycleSource();
  store = new TestStore();
  log = memoryLogger();
});
afterEach(async () => {
  store.down = false;
  store.release();
  for (const t of trackers.splice(0)) await t.stop();
  jest.useRealTimers();
});

describe('Tracker batching', () => {
  it('folds the events of one read window into one snapshot read and one store write per batch', async () => {
    const t = tracker();
    await t.start();
    const a = source.runToCompletion('q', 'j1', 'job_a', { ok: 1 });
    const b = source.runToCompletion('q', 'j2', 'job_b');

    await jest.advanceTimersByTimeAsync(WINDOW - 1);
    expect(store.calls).toHaveLength(0); // still waiting for the window to close

    await jest.advanceTimersByTimeAsync(1);
    await t.idle();
    expect(source.snapshotReads).toEqual([{ queue: 'q', jobIds: ['j1', 'j2'] }]);
    expect(store.calls).toHaveLength(1);
    expect(store.calls[0].map((u) => u.run_id)).toEqual(['j1', 'j2']);
    expect(await store.get('j1')).toMatchObject({
      job_id: 'job_a',
      status: 'completed',
      progress: 100,
      attempts: 1,
      worker: 'w:1',
      trigger: 'manual',
      result: { ok: 1 },
    });
    expect((await store.get('j2'))?.status).toBe('completed');
    expect(source.checkpoints.get('q')).toBe(b[2].id);
    expect(a[2].id < b[2].id).toBe(true);
  });

  it('skips the snapshot read for progress and log events', async () => {
    source.setJob('q', 'j1', { name: 'job_a' });
    const t = tracker();
    await t.start();
    source.emit('q', 'progress', 'j1', { data: { processed: 3, total: 4 } });
    source.emit('q', 'jm:log', 'j1', { lines: JSON.stringify([{ level: 'info', message: 'hello' }]) });
    await jest.advanceTimersByTimeAsync(WINDOW);
    await t.idle();
    expect(source.snapshotReads).toHaveLength(0);
    const run = await store.get('j1');
    expect(run).toMatchObject({ progress: 75, processed_items: 3, total_items: 4 });
    expect(run?.logs.map((l) => l.message)).toEqual(['hello']);
  });
});

describe('Tracker checkpoints', () => {
  it('saves the checkpoint only after the batch is stored', async () => {
    const t = tracker();
    await t.start();
    store.hold();
    const evs = source.runToCompletion('q', 'j1', 'job_a');
    await jest.advanceTimersByTimeAsync(WINDOW);
    expect(store.calls).toHaveLength(1); // the write is in flight …
    expect(source.savedCheckpoints).toHaveLength(0); // … so the checkpoint has not moved
    store.release();
    await t.idle();
    expect(source.savedCheckpoints).toEqual([{ queue: 'q', id: evs[2].id }]);
  });

  it('never moves the checkpoint past a batch the store refused', async () => {
    const t = tracker();
    await t.start();
    store.down = true;
    source.runToCompletion('q', 'j1', 'job_a');
    await jest.advanceTimersByTimeAsync(WINDOW);
    await jest.advanceTimersByTimeAsync(10_000); // several retries, all refused
    expect(store.calls.length).toBeGreaterThan(1);
    expect(source.savedCheckpoints).toHaveLength(0);
  });

  it('resumes from the checkpoint: a new tracker reads only what the old one had not stored', async () => {
    const first = tracker();
    await first.start();
    const before = source.runToCompletion('q', 'j1', 'job_a');
    await jest.advanceTimersByTimeAsync(WINDOW);
    await first.idle();
    await first.stop();

    // Events keep arriving while no tracker runs.
    source.runToCompletion('q', 'j2', 'job_a');
    expect(await store.get('j2')).toBeNull();

    const second = tracker();
    await second.start();
    expect(source.subscriptions.map((s) => s.fromId)).toEqual(['0', before[2].id]);
    await jest.advanceTimersByTimeAsync(WINDOW);
    await second.idle();
    expect((await store.get('j2'))?.status).toBe('completed');
    expect(source.snapshotReads.at(-1)).toEqual({ queue: 'q', jobIds: ['j2'] });
  });

  it('replaying stored events (a lost checkpoint) changes nothing', async () => {
    source.setJob('q', 'j1', { name: 'job_a' });
    source.emit('q', 'jm:log', 'j1', { lines: JSON.stringify([{ message: 'one' }]) });
    source.runToCompletion('q', 'j1', 'job_a', 7);
    const first = tracker();
    await first.start();
    await jest.advanceTimersByTimeAsync(WINDOW);
    await first.idle();
    await first.stop();
    const stored = await store.get('j1');

    source.checkpoints.delete('q');
    const second = tracker();
    await second.start();
    await jest.advanceTimersByTimeAsync(WINDOW);
    await second.idle();
    expect(await store.get('j1')).toEqual(stored);
    expect(stored?.logs.map((l) => l.message)).toEqual(['one']);
  });
});

describe('Tracker during a store outage', () => {
  it('backs off (500 ms, 1 s, …), keeps every update and stores them all once the store is back', async () => {
    const t = tracker();
    await t.start();
    store.down = true;
    source.runToCompletion('q', 'j1', 'job_a');
    await jest.advanceTimersByTimeAsync(WINDOW);
    expect(store.calls).toHaveLength(1);
    expect(logged('tracker_store_write_failed').map((l) => l.retry_in_ms)).toEqual([500]);

    // More events during the outage wait with the rest; no write is tried before the backoff ends.
    const late = source.runToCompletion('q', 'j2', 'job_a');
    await jest.advanceTimersByTimeAsync(499);
    expect(store.calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(store.calls).toHaveLength(2);
    expect(store.calls[1].map((u) => u.run_id)).toEqual(['j1', 'j2']);
    expect(logged('tracker_store_write_failed').map((l) => l.retry_in_ms)).toEqual([500, 1000]);
    expect(t.bufferedRuns()).toBe(2);

    store.down = false;
    await jest.advanceTimersByTimeAsync(1000);
    await t.idle();
    expect((await store.get('j1'))?.status).toBe('completed');
    expect((await store.get('j2'))?.status).toBe('completed');
    expect(t.bufferedRuns()).toBe(0);
    expect(t.dropped).toBe(0);
    expect(logged('tracker_store_recovered')).toHaveLength(1);
    expect(source.savedCheckpoints).toEqual([{ queue: 'q', id: late[2].id }]);
  });

  it('retries a failed snapshot read without losing the events it was for', async () => {
    const t = tracker();
    await t.start();
    source.failSnapshotReads = 1;
    source.runToCompletion('q', 'j1', 'job_a');
    await jest.advanceTimersByTimeAsync(WINDOW);
    expect(store.calls).toHaveLength(0);
    expect(logged('tracker_store_write_failed')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(500);
    await t.idle();
    expect(source.snapshotReads).toHaveLength(2);
    expect(await store.get('j1')).toMatchObject({ status: 'completed', attempts: 1, worker: 'w:1' });
  });

  it('past maxBufferedRuns drops the oldest runs, counts and logs them, and keeps the newest', async () => {
    const onDropped = jest.fn();
    const t = tracker({ maxBufferedRuns: 3, onDropped });
    await t.start();
    store.down = true;
    for (let i = 1; i <= 5; i++) {
      source.setJob('q', `j${i}`, { name: 'job_a' });
      source.emit('q', 'added', `j${i}`);
    }
    await jest.advanceTimersByTimeAsync(WINDOW);
    expect(onDropped).toHaveBeenCalledWith(2);
    expect(t.dropped).toBe(2);
    expect(t.bufferedRuns()).toBe(3);
    expect(logged('tracker_buffer_overflow')).toEqual([expect.objectContaining({ dropped: 2, level: 50 })]);

    store.down = false;
    await jest.advanceTimersByTimeAsync(500);
    await t.idle();
    expect(await store.get('j1')).toBeNull();
    expect(await store.get('j2')).toBeNull();
    for (const id of ['j3', 'j4', 'j5']) expect((await store.get(id))?.status).toBe('pending');

    // A dropped run is not gone for good: its next event records it again.
    source.setJob('q', 'j1', { name: 'job_a', processedOn: Date.now(), attemptsStarted: 1 });
    source.emit('q', 'active', 'j1', { prev: 'waiting' });
    await jest.advanceTimersByTimeAsync(WINDOW);
    await t.idle();
    expect((await store.get('j1'))?.status).toBe('running');
  });

  it('stop() writes what is buffered in one last attempt', async () => {
    const t = tracker();
    await t.start();
    source.runToCompletion('q', 'j1', 'job_a');
    await t.stop();
    expect((await store.get('j1'))?.status).toBe('completed');
  });
});
