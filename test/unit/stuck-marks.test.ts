import pino from 'pino';
import { JobRegistry } from '../../src/monitor/registry';
import { RunWriter } from '../../src/monitor/run-writer';
import { StuckMonitor } from '../../src/monitor/stuck-monitor';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { seedRuns, seedUpdates } from '../helpers/dashboard';

const registry = JobRegistry.fromYaml(`
jobs:
  - { job_id: hang_job, name: Hang, category: t, job_type: repeating, interval_seconds: 3600, enabled: true, callback_name: quick, queue: tq }
`);

function monitor(
  store: MemoryRunStore,
  now: () => number,
  health: () => Promise<{ queue: string; waiting: number; workers: number }[]> = async () => [],
) {
  const writer = new RunWriter(store);
  return new StuckMonitor({
    registry,
    store,
    events: { emit: async () => {}, emitOnce: async () => true, forget: async () => {} },
    lock: { acquire: async () => true, release: async () => {} },
    queues: { health },
    logger: pino({ level: 'silent' }),
    thresholdMinutes: 20,
    intervalSeconds: 60,
    now,
    mark: (run, marks) => writer.mark(run, marks),
  });
}

describe('stuck runs are visible on the run', () => {
  it('flags a run running too long with reason and since; ?stuck=true finds it; it ends unflagged', async () => {
    const store = new MemoryRunStore();
    const t0 = Date.now();
    await seedRuns(store, [
      { run_id: 'hung', job_id: 'hang_job', status: 'running', created_ms: t0 - 30 * 60_000 },
      { run_id: 'fresh', job_id: 'hang_job', status: 'running', created_ms: t0 - 60_000 },
    ]);
    const m = monitor(store, () => t0);
    await m.scan();
    const hung = await store.get('hung');
    expect(hung).toMatchObject({ stuck: true, stuck_reason: 'running_too_long', status: 'running' });
    expect(hung?.stuck_since).toBe(new Date(t0).toISOString());
    expect((await store.get('fresh'))?.stuck).toBe(false);
    expect((await store.list({ stuck: true })).runs.map((r) => r.run_id)).toEqual(['hung']);
    expect((await store.list({ stuck: false })).runs.map((r) => r.run_id)).toEqual(['fresh']);

    // A second scan keeps the first "since".
    await monitor(store, () => t0 + 60_000).scan();
    expect((await store.get('hung'))?.stuck_since).toBe(new Date(t0).toISOString());

    // The run ends (its worker's completed event): the flag is gone, and ?stuck=true no longer lists it.
    const [done] = seedUpdates([
      {
        run_id: 'hung',
        job_id: 'hang_job',
        status: 'completed',
        created_ms: t0 - 30 * 60_000,
        duration_ms: 1,
      },
    ]);
    await store.apply([{ ...done, seq: `${done.seq}9` }]);
    expect(await store.get('hung')).toMatchObject({
      status: 'completed',
      stuck: false,
      stuck_reason: null,
      stuck_since: null,
    });
    expect((await store.list({ stuck: true })).runs).toEqual([]);
    // A later scan does not flag a finished run again.
    await monitor(store, () => t0 + 120_000).scan();
    expect((await store.get('hung'))?.stuck).toBe(false);
  });

  it('flags every pending run of a queue without workers as no_workers at once, before not_picked_up', async () => {
    const store = new MemoryRunStore();
    const t0 = Date.now();
    await seedRuns(store, [
      { run_id: 'old', job_id: 'hang_job', status: 'pending', created_ms: t0 - 30 * 60_000 },
      { run_id: 'young', job_id: 'hang_job', status: 'pending', created_ms: t0 - 1000 },
    ]);
    const idle = async () => [{ queue: 'tq', waiting: 2, workers: 0 }];
    const scan = await monitor(store, () => t0, idle).scan();
    for (const id of ['old', 'young'])
      expect(await store.get(id)).toMatchObject({
        status: 'pending',
        stuck: true,
        stuck_reason: 'no_workers',
        stuck_since: new Date(t0).toISOString(),
      });
    // Both count as stuck; only the one past the threshold is reported (the queue's own event covers the other).
    expect(scan.stuck.map((s) => [s.run_id, s.overdue]).sort()).toEqual([
      ['old', true],
      ['young', false],
    ]);
    expect(scan.stuckByJob).toEqual({ hang_job: 2 });

    // A worker comes back: the young run is no longer stuck (flag cleared), the old one is not picked up.
    const live = async () => [{ queue: 'tq', waiting: 2, workers: 1 }];
    await monitor(store, () => t0 + 1000, live).scan();
    expect(await store.get('young')).toMatchObject({ stuck: false, stuck_reason: null, stuck_since: null });
    expect(await store.get('old')).toMatchObject({ stuck: true, stuck_reason: 'not_picked_up' });
  });
});
