import pino from 'pino';
import { JobRegistry } from '../../src/monitor/registry';
import { RunWriter } from '../../src/monitor/run-writer';
import { StuckMonitor } from '../../src/monitor/stuck-monitor';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { seedRuns } from '../helpers/dashboard';

const registry = JobRegistry.fromYaml(`
jobs:
  - { job_id: hang_job, name: Hang, category: t, job_type: repeating, interval_seconds: 3600, enabled: true, callback_name: quick, queue: tq }
`);

function monitor(store: MemoryRunStore, now: () => number) {
  const writer = new RunWriter(store);
  return new StuckMonitor({
    registry,
    store,
    events: { emit: async () => {}, emitOnce: async () => true, forget: async () => {} },
    lock: { acquire: async () => true, release: async () => {} },
    queues: { health: async () => [] },
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
  });
});
