import { exclusiveKey } from '../../src/monitor/concurrency';
import type { JobEnqueuer } from '../../src/monitor/jobs-service';
import { JobsService } from '../../src/monitor/jobs-service';
import { JobRegistry } from '../../src/monitor/registry';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';

/** JobsService on the in-memory store and a recording enqueuer: the use-case rules without Redis. */

const YML = `
jobs:
  - { job_id: solo, name: Solo, category: c, job_type: once, callback_name: p }
  - { job_id: crowd, name: Crowd, category: c, job_type: once, allow_concurrent: true, callback_name: p }
dynamic_jobs:
  - { job_id: sync, name: Sync, category: c, callback_name: p }
  - { job_id: export, name: Export, category: c, callback_name: p, allow_concurrent: false }
`;

/** Enqueues into memory with BullMQ's deduplication semantics; appends events with increasing ids. */
class MemoryEnqueuer implements JobEnqueuer {
  readonly calls: { job_id: string; runId: string; exclusiveKey?: string }[] = [];
  readonly events: { queue: string; event: string; jobId: string; args: Record<string, string> }[] = [];
  private readonly byKey = new Map<string, string>();
  private n = 0;

  async enqueue(def: { job_id: string }, _env: unknown, opts: { runId: string; exclusiveKey?: string }) {
    this.calls.push({ job_id: def.job_id, ...opts });
    const held = opts.exclusiveKey && this.byKey.get(opts.exclusiveKey);
    if (held) return { runId: held, deduplicated: true };
    if (opts.exclusiveKey) this.byKey.set(opts.exclusiveKey, opts.runId);
    return { runId: opts.runId, deduplicated: false };
  }

  async appendEvent(queue: string, event: string, jobId: string, args: Record<string, string>) {
    this.events.push({ queue, event, jobId, args });
    return `${Date.now()}-${this.n++}`;
  }
}

let registry: JobRegistry;
let store: MemoryRunStore;
let enqueuer: MemoryEnqueuer;
let service: JobsService;
let logs: ReturnType<typeof memoryLogger>;
beforeEach(() => {
  logs = memoryLogger();
  registry = JobRegistry.fromYaml(YML);
  store = new MemoryRunStore();
  enqueuer = new MemoryEnqueuer();
  service = new JobsService(registry, store, enqueuer, { logger: logs.logger });
});

describe('one concurrency rule', () => {
  it('defaults: static jobs exclusive, dynamic jobs concurrent; allow_concurrent overrides either', () => {
    expect(exclusiveKey(registry.get('solo')!)).toBe('job:solo');
    expect(exclusiveKey(registry.get('crowd')!)).toBeNull();
    expect(exclusiveKey(registry.get('sync')!)).toBeNull();
    expect(exclusiveKey(registry.get('export')!)).toBe('job:export');
  });

  it('trigger of an exclusive job: pending at once, a second trigger refused with the active run', async () => {
    const { run_id } = await service.trigger('solo', { user_id: 'u1' });
    expect(await store.get(run_id)).toMatchObject({ status: 'pending', trigger: 'manual', user_id: 'u1' });
    expect(enqueuer.calls[0]).toMatchObject({ job_id: 'solo', exclusiveKey: 'job:solo' });
    await expect(service.trigger('solo')).rejects.toMatchObject({
      code: 'job_already_running',
      extra: { run_id },
    });
  });

  it('trigger of a concurrent job enqueues without a key, as often as asked', async () => {
    const a = await service.trigger('crowd');
    const b = await service.trigger('crowd');
    expect(a.run_id).not.toBe(b.run_id);
    expect(enqueuer.calls.map((c) => c.exclusiveKey)).toEqual([undefined, undefined]);
  });

  it('enqueueDynamic applies the same rule: an exclusive dynamic job is deduplicated', async () => {
    const first = await service.enqueueDynamic('export', { n: 1 });
    const second = await service.enqueueDynamic('export', { n: 2 });
    expect(second).toEqual({ run_id: first.run_id, deduplicated: true });
    const free1 = await service.enqueueDynamic('sync', {});
    const free2 = await service.enqueueDynamic('sync', {});
    expect(free1.run_id).not.toBe(free2.run_id);
    expect(enqueuer.calls.filter((c) => c.job_id === 'sync').map((c) => c.exclusiveKey)).toEqual([
      undefined,
      undefined,
    ]);
  });
});

describe('one writer for run state', () => {
  it('markRunFailed appends a jm:failed event to the run queue and stores its result at once', async () => {
    const { run_id } = await service.enqueueDynamic('sync', {}, { user_id: 'u2' });
    const run = (await store.get(run_id))!;
    await service.markRunFailed(run, 'queued 400 s without worker pickup');
    expect(enqueuer.events).toEqual([
      {
        queue: 'default',
        event: 'jm:failed',
        jobId: run_id,
        args: { name: 'sync', reason: 'queued 400 s without worker pickup' },
      },
    ]);
    expect(await store.get(run_id)).toMatchObject({
      status: 'failed',
      error_message: 'queued 400 s without worker pickup',
      user_id: 'u2',
    });
  });

  it('a store outage while recording the pending run does not fail the trigger (the job is queued)', async () => {
    store.apply = async () => {
      throw new Error('store unreachable');
    };
    const { run_id } = await service.trigger('crowd');
    expect(enqueuer.calls.map((c) => c.runId)).toEqual([run_id]);
    // not silent: the operator sees why the run is missing until the worker records it
    const line = logs.lines.find((l) => l.msg === 'run_pending_write_failed');
    expect(line).toMatchObject({ run_id, job_id: 'crowd', err: { message: 'store unreachable' } });
    expect(String((line?.err as { stack?: string } | undefined)?.stack)).toContain('store unreachable');
  });

  it('a store outage while linking a retry back to its failed run keeps the retry and logs it', async () => {
    const { run_id: failed } = await service.trigger('crowd');
    await service.markRunFailed((await store.get(failed))!, 'boom');
    const apply = store.apply.bind(store);
    // every write from here fails: the retry's pending record and the retried_by mark
    store.apply = async () => {
      throw new Error('store unreachable');
    };
    const out = await service.retry(failed);
    store.apply = apply;
    expect(out.retry_of).toBe(failed);
    expect(enqueuer.calls.map((c) => c.runId)).toContain(out.run_id);
    expect((await store.get(failed))?.retried_by ?? null).toBeNull();
    expect(logs.lines.find((l) => l.msg === 'retried_by_mark_failed')).toMatchObject({
      run_id: failed,
      retry_run_id: out.run_id,
      err: { message: 'store unreachable' },
    });
  });
});
