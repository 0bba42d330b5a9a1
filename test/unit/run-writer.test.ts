import { RunWriter } from '../../src/monitor/run-writer';
import { Tracker } from '../../src/monitor/tracker';
import { seqFromEventId } from '../../src/monitor/run';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';
import { ScriptedLifecycleSource } from '../helpers/scripted-source';

/** One writer for run state: the service's writes are lifecycle events the tracker folds like any other. */

let source: ScriptedLifecycleSource;
let store: MemoryRunStore;
let writer: RunWriter;
let tracker: Tracker;

const identity = {
  job_id: 'recording_download',
  queue: 'recordings',
  created_at: new Date(1_700_000_000_000).toISOString(),
  trigger: 'api' as const,
  user_id: 'u1',
};

beforeEach(async () => {
  jest.useFakeTimers();
  source = new ScriptedLifecycleSource();
  store = new MemoryRunStore();
  writer = new RunWriter(store, source);
  tracker = new Tracker({
    queues: ['recordings'],
    source,
    store,
    logger: memoryLogger().logger,
    batchWindowMs: 5,
  });
  await tracker.start();
});
afterEach(async () => {
  await tracker.stop();
  jest.useRealTimers();
});

const settle = async () => {
  await jest.advanceTimersByTimeAsync(5);
  await tracker.idle();
};

describe('RunWriter', () => {
  it('records an enqueued run as pending at once, and the real events then take over', async () => {
    await writer.recordEnqueued('r1', identity);
    expect(await store.get('r1')).toMatchObject({ status: 'pending', seq: '', user_id: 'u1' });

    source.setJob('recordings', 'r1', {
      name: 'recording_download',
      processedOn: Date.now(),
      attemptsStarted: 1,
    });
    source.emit('recordings', 'active', 'r1', { prev: 'waiting' });
    await settle();
    expect((await store.get('r1'))?.status).toBe('running');

    // A late pending write never overrides a run the events already moved on.
    await writer.recordEnqueued('r1', { ...identity, trigger: 'manual' });
    expect(await store.get('r1')).toMatchObject({ status: 'running', trigger: 'api' });
  });

  it('markFailed writes an event to the run stream and applies it at once, with that event as its seq', async () => {
    await writer.recordEnqueued('r1', identity);
    const run = (await store.get('r1'))!;
    await writer.markFailed(run, 'queued 301 s without worker pickup');

    const marked = await store.get('r1');
    expect(marked).toMatchObject({ status: 'failed', error_message: 'queued 301 s without worker pickup' });
    // The seq is the id the stream gave the event, not an invented one.
    const ev = await new Promise<{ id: string; event: string }>((resolve) => {
      void source.subscribe('recordings', '0', (e) => {
        if (e.event === 'jm:failed') resolve(e);
      });
    });
    expect(marked?.seq).toBe(seqFromEventId(ev.id));
    expect(marked?.ended_at).toBe(new Date(Number(ev.id.split('-')[0])).toISOString());

    // The tracker folds the same event later: nothing changes.
    await settle();
    expect(await store.get('r1')).toEqual(marked);
  });

  it('a failure mark beats older events the tracker had not stored yet, and loses to newer ones', async () => {
    source.setJob('recordings', 'r1', {
      name: 'recording_download',
      processedOn: Date.now(),
      attemptsStarted: 1,
    });
    // The tracker is behind: 'active' is in the stream but not stored when the policy marks the run.
    source.emit('recordings', 'added', 'r1', { name: 'recording_download' });
    source.emit('recordings', 'active', 'r1', { prev: 'waiting' });
    await writer.recordEnqueued('r1', identity);
    await writer.markFailed((await store.get('r1'))!, 'running 400 s without completion');
    await settle();
    expect((await store.get('r1'))?.status).toBe('failed');

    // A worker that finally takes it (a newer event) wins.
    source.emit('recordings', 'active', 'r1', { prev: 'waiting' });
    await settle();
    expect((await store.get('r1'))?.status).toBe('running');
  });

  it('markFailed refuses to write without an event log (no forged sequence)', async () => {
    const bare = new RunWriter(store);
    await writer.recordEnqueued('r1', identity);
    await expect(bare.markFailed((await store.get('r1'))!, 'x')).rejects.toThrow(/event log/);
    expect((await store.get('r1'))?.status).toBe('pending');
  });
});
