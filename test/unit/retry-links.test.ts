import type { JobEnqueuer } from '../../src/monitor/jobs-service';
import { JobsService } from '../../src/monitor/jobs-service';
import type { JobEnvelope } from '../../src/monitor/lifecycle';
import { JobRegistry } from '../../src/monitor/registry';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';
import { seedRuns } from '../helpers/dashboard';

/** Retry rules on the in-memory store: links both ways, dynamic payloads, refusals. */

const YML = `
jobs:
  - { job_id: crowd, name: Crowd, category: c, job_type: once, allow_concurrent: true, callback_name: p }
dynamic_jobs:
  - { job_id: sync, name: Sync, category: c, callback_name: p }
`;

class Enqueuer implements JobEnqueuer {
  readonly jobs = new Map<string, JobEnvelope>();
  async enqueue(_def: { job_id: string }, env: JobEnvelope, opts: { runId: string }) {
    this.jobs.set(opts.runId, env);
    return { runId: opts.runId, deduplicated: false };
  }
  async appendEvent() {
    return `${Date.now()}-0`;
  }
  async envelopeOf(run: { run_id: string }) {
    return this.jobs.get(run.run_id) ?? null;
  }
  async payloadOf(run: { run_id: string }) {
    return this.jobs.get(run.run_id)?.payload;
  }
}

let store: MemoryRunStore;
let enq: Enqueuer;
let service: JobsService;
beforeEach(async () => {
  store = new MemoryRunStore();
  enq = new Enqueuer();
  service = new JobsService(JobRegistry.fromYaml(YML), store, enq, { logger: memoryLogger().logger });
  await seedRuns(store, [
    { run_id: 'f-static', job_id: 'crowd', status: 'failed', created_ms: Date.now() - 1000, user_id: 'u1' },
    { run_id: 'f-dyn', job_id: 'sync', status: 'failed', created_ms: Date.now() - 1000, user_id: 'u2' },
    { run_id: 'f-gone', job_id: 'sync', status: 'failed', created_ms: Date.now() - 1000 },
    { run_id: 'ok', job_id: 'crowd', status: 'completed', created_ms: Date.now() - 1000 },
  ]);
  enq.jobs.set('f-dyn', { trigger: 'api', user_id: 'u2', payload: { folder: 'x' } });
});

describe('retry', () => {
  it('links the runs both ways and records who asked', async () => {
    const out = await service.retry('f-static', { triggered_by: 'api:ci' });
    expect(out.retry_of).toBe('f-static');
    expect(await store.get(out.run_id)).toMatchObject({
      retry_of: 'f-static',
      triggered_by: 'api:ci',
      user_id: 'u1',
      trigger: 'manual',
    });
    expect((await store.get('f-static'))?.retried_by).toBe(out.run_id);
    expect(enq.jobs.get(out.run_id)).toMatchObject({ retry_of: 'f-static', triggered_by: 'api:ci' });
  });

  it('retries a dynamic run with the payload of its job', async () => {
    const out = await service.retry('f-dyn', { triggered_by: 'dashboard:ops' });
    expect(enq.jobs.get(out.run_id)?.payload).toEqual({ folder: 'x' });
    expect(await store.get(out.run_id)).toMatchObject({ job_id: 'sync', retry_of: 'f-dyn', user_id: 'u2' });
  });

  it('answers 410 run_payload_gone when a dynamic run’s job is gone, 409 run_not_failed otherwise', async () => {
    await expect(service.retry('f-gone')).rejects.toMatchObject({ code: 'run_payload_gone', status: 410 });
    await expect(service.retry('ok')).rejects.toMatchObject({ code: 'run_not_failed', status: 409 });
  });
});
