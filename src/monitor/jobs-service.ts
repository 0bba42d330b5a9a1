import { randomBytes } from 'node:crypto';
import {
  jobAlreadyRunning,
  jobDisabled,
  jobNotFound,
  jobNotTriggerable,
  runNotFailed,
  runNotFound,
} from './errors';
import type { JobEnvelope } from './lifecycle';
import type { JobDefinition, JobRegistry } from './registry';
import { ACTIVE_STATUSES, FINISHED_STATUSES, type JobRun, type RunTrigger, seqFromEventId } from './run';
import type { RunPage, RunQuery, RunStore } from './run-store';
import { describeSchedule } from './schedule-words';

/** Puts a job on its BullMQ queue (implemented in src/queues). */
export interface JobEnqueuer {
  /**
   * Adds one job. With `exclusiveKey`, a job already waiting or running under that key wins and its
   * id is returned with `deduplicated: true` (BullMQ deduplication; safe across processes).
   */
  enqueue(
    def: JobDefinition,
    envelope: JobEnvelope,
    opts: { runId: string; exclusiveKey?: string },
  ): Promise<{ runId: string; deduplicated: boolean }>;
  /** The payload a run was enqueued with, while its BullMQ job still exists (for retries). */
  payloadOf?(run: JobRun): Promise<unknown>;
}

/** A job as the API and ChatOps show it; `schedule` is the schedule in words ("every 1 h"). */
export type PublicJob = Omit<JobDefinition, 'callback_name'> & { schedule: string };

/** A job with what is happening to it now: its active runs and its last finished run. */
export interface JobOverview extends PublicJob {
  /** Runs of this job pending or running now, newest first. */
  active_runs: JobRun[];
  /** The newest finished run (completed, failed or skipped), or null when it never finished one. */
  last_run: JobRun | null;
}

/** New run ids: 12 hex characters behind a letter, so BullMQ never takes them for integers. */
export function newRunId(prefix: 'm' | 'a' = 'm'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/**
 * The jobs use cases, shared by the HTTP API, the dashboard and the Telegram bot, so every surface
 * gives the same answers and the same refusals.
 */
export class JobsService {
  constructor(
    readonly registry: JobRegistry,
    readonly store: RunStore,
    private readonly enqueuer: JobEnqueuer,
  ) {}

  listJobs(): PublicJob[] {
    return this.registry.jobs.map(toPublic);
  }

  /** The job and its 20 latest runs. @throws job_not_found */
  async getJob(jobId: string, runs = 20): Promise<{ job: PublicJob; runs: JobRun[] }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const page = await this.store.list({ job_id: jobId, limit: runs });
    return { job: toPublic(def), runs: page.runs };
  }

  /** Runs now pending or running, newest first. */
  async activeRuns(limit = 200): Promise<JobRun[]> {
    return (await this.store.list({ status: [...ACTIVE_STATUSES], limit })).runs;
  }

  /** The latest failed runs, newest first (ChatOps `/jobs failed`). */
  async latestFailures(limit = 10): Promise<JobRun[]> {
    return (await this.store.list({ status: ['failed'], limit })).runs;
  }

  /**
   * Every job (or one category's) with its active runs and its last finished run, in registry order
   * (ChatOps `/jobs` and `/jobs <category>`). Two indexed store queries per job, run side by side, so a
   * backlog in one job never hides another job's active runs.
   */
  async jobsOverview(category?: string): Promise<JobOverview[]> {
    const defs = this.registry.jobs.filter((j) => category === undefined || j.category === category);
    return Promise.all(
      defs.map(async (def) => {
        const [active, finished] = await Promise.all([
          this.store.list({ job_id: def.job_id, status: [...ACTIVE_STATUSES], limit: 20 }),
          this.store.list({ job_id: def.job_id, status: [...FINISHED_STATUSES], limit: 1 }),
        ]);
        return { ...toPublic(def), active_runs: active.runs, last_run: finished.runs[0] ?? null };
      }),
    );
  }

  /** The categories of the registry's jobs, sorted, without duplicates. */
  categories(): string[] {
    return this.registry.categories();
  }

  /** @throws run_not_found */
  async getRun(runId: string): Promise<JobRun> {
    const run = await this.store.get(runId);
    if (!run) throw runNotFound(runId);
    return run;
  }

  listRuns(query: RunQuery): Promise<RunPage> {
    return this.store.list(query);
  }

  /** One run, or null (no error) when the store has none. */
  findRun(runId: string): Promise<JobRun | null> {
    return this.store.get(runId);
  }

  /**
   * Marks a run failed with a reason (e.g. stuck: no worker took it). `atMs` should come from the clock
   * BullMQ's events use (Redis TIME) so that the mark orders after the run's last event; a later event
   * of the same run (a worker that finally takes it) still wins.
   */
  async markRunFailed(run: JobRun, reason: string, atMs: number): Promise<void> {
    await this.store.apply([
      {
        run_id: run.run_id,
        seq: seqFromEventId(`${atMs}-99999999`),
        identity: {
          job_id: run.job_id,
          queue: run.queue,
          created_at: run.created_at,
          trigger: run.trigger,
          user_id: run.user_id,
        },
        patch: { status: 'failed', error_message: reason, ended_at: new Date(atMs).toISOString() },
        logs: [],
      },
    ]);
  }

  /**
   * Runs a static job now. Refuses dynamic jobs (job_not_triggerable), disabled ones (job_disabled) and,
   * unless allow_concurrent, a job with a run already pending or running (job_already_running).
   * The pending run is stored before this returns (when the store answers), so its id can be looked up at once.
   */
  async trigger(
    jobId: string,
    by: { trigger?: RunTrigger; user_id?: string | null; payload?: unknown } = {},
  ): Promise<{ run_id: string }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    if (!def.can_trigger) throw jobNotTriggerable(jobId);
    if (!def.enabled) throw jobDisabled(jobId);
    if (!def.allow_concurrent) {
      const { runs } = await this.store.list({ job_id: jobId, status: [...ACTIVE_STATUSES], limit: 1 });
      if (runs[0]) throw jobAlreadyRunning(jobId, runs[0].run_id);
    }
    const envelope: JobEnvelope = {
      trigger: by.trigger ?? 'manual',
      user_id: by.user_id ?? null,
      payload: by.payload,
    };
    return this.enqueue(def, envelope, !def.allow_concurrent);
  }

  /**
   * Runs a failed run's job again with the same payload and user; the new run's trigger is `manual`.
   * @throws run_not_found; run_not_failed (409) when the run did not fail; the trigger() refusals.
   */
  async retry(runId: string): Promise<{ run_id: string }> {
    const run = await this.getRun(runId);
    if (run.status !== 'failed') throw runNotFailed(runId, run.status);
    return this.trigger(run.job_id, {
      trigger: 'manual',
      user_id: run.user_id,
      payload: await this.enqueuer.payloadOf?.(run),
    });
  }

  /**
   * Enqueues a dynamic job on behalf of application code (a user action). The run's trigger is `api`.
   * @throws job_not_found when the registry has no such job.
   */
  async enqueueDynamic(
    jobId: string,
    payload: unknown,
    opts: { user_id?: string | null; runId?: string; exclusiveKey?: string } = {},
  ): Promise<{ run_id: string; deduplicated: boolean }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const envelope: JobEnvelope = { trigger: 'api', user_id: opts.user_id ?? null, payload };
    const createdAt = new Date();
    const res = await this.enqueuer.enqueue(def, envelope, {
      runId: opts.runId ?? newRunId('a'),
      exclusiveKey: opts.exclusiveKey,
    });
    if (!res.deduplicated) await this.recordPending(def, res.runId, envelope, createdAt);
    return { run_id: res.runId, deduplicated: res.deduplicated };
  }

  private async enqueue(
    def: JobDefinition,
    envelope: JobEnvelope,
    exclusive: boolean,
  ): Promise<{ run_id: string }> {
    const createdAt = new Date();
    const res = await this.enqueuer.enqueue(def, envelope, {
      runId: newRunId('m'),
      exclusiveKey: exclusive ? `job:${def.job_id}` : undefined,
    });
    if (res.deduplicated) throw jobAlreadyRunning(def.job_id, res.runId);
    await this.recordPending(def, res.runId, envelope, createdAt);
    return { run_id: res.runId };
  }

  /**
   * Stores the pending run right away; the tracker's events (newer seq) take over from there. Best effort:
   * the job is already queued, so a store outage must not turn this call into an error (a caller who
   * retried would run the job twice); the tracker records the run from its `added` event once the store
   * is back.
   */
  private async recordPending(
    def: JobDefinition,
    runId: string,
    envelope: JobEnvelope,
    createdAt: Date,
  ): Promise<void> {
    await this.store
      .apply([
        {
          run_id: runId,
          seq: '',
          identity: {
            job_id: def.job_id,
            queue: def.queue,
            created_at: createdAt.toISOString(),
            trigger: envelope.trigger ?? 'api',
            user_id: envelope.user_id ?? null,
          },
          patch: {},
          logs: [],
        },
      ])
      .catch(() => undefined);
  }
}

function toPublic(def: JobDefinition): PublicJob {
  const { callback_name: _hidden, ...rest } = def;
  return { ...rest, schedule: describeSchedule(def) };
}
