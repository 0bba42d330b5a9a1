import { createHash, randomBytes } from 'node:crypto';
import { exclusiveKey } from './concurrency';
import {
  jobAlreadyRunning,
  jobDisabled,
  jobNotFound,
  jobNotTriggerable,
  jobPaused,
  runAlreadyRetried,
  runNotFailed,
  runNotFound,
  runNotActive,
  runPayloadGone,
} from './errors';
import { CANCELLED_REASON_PREFIX, type JobEnvelope } from './lifecycle';
import type { JobDefinition, JobRegistry } from './registry';
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type JobRun,
  type RunMarks,
  type RunTrigger,
  searchTerms,
} from './run';
import type { RunPage, RunQuery, RunStore } from './run-store';
import { type RunEventLog, RunWriter } from './run-writer';
import { AppError } from './errors';
import type { JobPause, PauseStore, ScheduleControl } from './pauses';
import { APP_TRIGGERED_BY } from './principal';
import { MemoryRetryClaims, type RetryClaims } from './retry-claims';
import { describeSchedule } from './schedule-words';

/** What the service logs (pino's shape; the domain imports no logger). */
export interface ServiceLogger {
  warn(obj: object, msg: string): void;
}

/** The optional parts of {@link JobsService}. */
export interface JobsServiceOptions {
  /** #12 pause/resume: where pauses live. Without it nothing can be paused. */
  pauses?: PauseStore;
  /** How schedules are switched off and on when a job is paused and resumed. */
  schedules?: ScheduleControl;
  /**
   * "Retried once" across processes (Redis in production).
   * @defaultValue in memory: once per process only
   */
  retries?: RetryClaims;
  /** Where best-effort writes that failed are reported (never dropped silently). */
  logger: ServiceLogger;
}

/** A job's pause state as the API, dashboard and ChatOps show it. */
export interface PauseState {
  paused: boolean;
  paused_by: string | null;
  paused_at: string | null;
}

function pauseState(p: JobPause | undefined | null): PauseState {
  return p
    ? { paused: true, paused_by: p.paused_by, paused_at: p.paused_at }
    : { paused: false, paused_by: null, paused_at: null };
}

/**
 * Puts a job on its BullMQ queue (implemented in src/queues), and appends our own lifecycle events to the
 * queue's events stream (see {@link RunWriter}).
 */
export interface JobEnqueuer extends RunEventLog {
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
  /** #12 cancel: removes a run's job unless a worker holds it (see BullmqEnqueuer.removeWaiting). */
  removeWaiting?(run: JobRun): Promise<'removed' | 'active' | 'gone'>;
  /** #12 cancel: tells every worker process to cancel a running run. */
  publishCancel?(runId: string, by: string): Promise<unknown>;
  /** The run's job data while its BullMQ job exists; null once it is gone (removed after its retention). */
  envelopeOf?(run: JobRun): Promise<JobEnvelope | null>;
}

/**
 * How a dynamic job's failed run is retried when the plain "same payload again" is not right (the
 * recordings download resets the call's retry window and moves the call to a new download generation).
 */
export type RetryHandler = (run: JobRun, by: { triggered_by: string | null }) => Promise<{ run_id: string }>;

/** Who asks for a manual run, and with what. */
export interface TriggerBy {
  /** @defaultValue 'manual' */
  trigger?: RunTrigger;
  user_id?: string | null;
  payload?: unknown;
  /** `api:<token name>`, `dashboard:<name>`, `telegram:<id> (@user)` (see triggeredBy). */
  triggered_by?: string | null;
  /** The failed run this one retries. */
  retry_of?: string | null;
  /** The new run's id (a retry's, see {@link retryRunId}); default a fresh one. */
  run_id?: string;
}

/** A job as the API and ChatOps show it; `schedule` is the schedule in words ("every 1 h"). */
export type PublicJob = Omit<JobDefinition, 'callback_name'> & { schedule: string };

/** A job with what is happening to it now: its active runs and its last finished run. */
export interface JobOverview extends PublicJob {
  /** #12: paused by an operator (no scheduled runs, triggers refused). */
  paused?: boolean;
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
 * The id of a failed run's retry, derived from the failed run's id (same shape as {@link newRunId}): a retry
 * made twice — by a bulk action resuming after its process died half-way, or two callers racing past the
 * claim — adds the same BullMQ job id, which BullMQ keeps once.
 */
export function retryRunId(failedRunId: string, prefix: 'm' | 'a'): string {
  return `${prefix}${createHash('sha256').update(`retry:${failedRunId}`, 'utf8').digest('hex').slice(0, 12)}`;
}

/**
 * The jobs use cases, shared by the HTTP API, the dashboard and the Telegram bot, so every surface
 * gives the same answers and the same refusals.
 */
export class JobsService {
  /** Every run-state write of this service goes through it (the same rules the tracker uses). */
  private readonly writer: RunWriter;
  private readonly retryHandlers = new Map<string, RetryHandler>();
  /** "Retried once" (see {@link JobsServiceOptions.retries}). */
  private readonly retries: RetryClaims;

  constructor(
    readonly registry: JobRegistry,
    readonly store: RunStore,
    private readonly enqueuer: JobEnqueuer,
    /** Pauses, schedules, retry claims and a logger (see {@link JobsServiceOptions}). */
    private readonly options: JobsServiceOptions,
  ) {
    this.writer = new RunWriter(store, enqueuer);
    this.retries = options.retries ?? new MemoryRetryClaims();
  }

  /** @throws job_paused (409) when an operator paused the job. */
  private async assertNotPaused(jobId: string): Promise<void> {
    const paused = await this.options.pauses?.get(jobId);
    if (paused) throw jobPaused(jobId, paused.paused_by);
  }

  /** Every job with its pause state (`paused`, `paused_by`, `paused_at`), for the API and the dashboard. */
  async listJobsWithState(): Promise<(PublicJob & PauseState)[]> {
    const paused = (await this.options.pauses?.all()) ?? {};
    return this.listJobs().map((j) => ({ ...j, ...pauseState(paused[j.job_id]) }));
  }

  /** One job's pause state. */
  async pauseOf(jobId: string): Promise<PauseState> {
    return pauseState((await this.options.pauses?.get(jobId)) ?? undefined);
  }

  /**
   * Pauses a job (admin) until it is resumed; survives restarts. Static job: the scheduler makes no runs of it
   * and triggers answer 409 `job_paused`. Dynamic job: {@link enqueueDynamic} answers 409 `job_paused` (the
   * recordings file route answers 500 `recording_downloads_paused`). Retries of either are refused the same
   * way. Runs already queued still run (cancel them to stop them). Pausing a paused job keeps the first pause.
   * @throws job_not_found
   */
  async pause(jobId: string, by: string): Promise<{ job_id: string } & PauseState> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const pauses = this.options.pauses;
    if (!pauses) throw new AppError('pause_unavailable', 503, 'pausing jobs is not configured here');
    const p = await pauses.pause(jobId, { paused_by: by, paused_at: new Date().toISOString() });
    await this.options.schedules?.remove(jobId, def.queue);
    return { job_id: jobId, ...pauseState(p) };
  }

  /** Resumes a paused job and restores its schedule. @throws job_not_found */
  async resume(jobId: string): Promise<{ job_id: string } & PauseState> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const pauses = this.options.pauses;
    if (!pauses) throw new AppError('pause_unavailable', 503, 'pausing jobs is not configured here');
    await pauses.resume(jobId);
    await this.options.schedules?.restore(jobId);
    return { job_id: jobId, ...pauseState(undefined) };
  }

  listJobs(): PublicJob[] {
    return this.registry.jobs.map(toPublic);
  }

  /** The job and its 20 latest runs. @throws job_not_found */
  async getJob(jobId: string, runs = 20): Promise<{ job: PublicJob & Partial<PauseState>; runs: JobRun[] }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const page = await this.store.list({ job_id: jobId, limit: runs });
    const pause = this.options.pauses ? await this.pauseOf(jobId) : {};
    return { job: { ...toPublic(def), ...pause }, runs: page.runs };
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
    // The overview is still useful without the pause marks: a pause store outage is logged, not fatal.
    const paused: Record<string, JobPause> =
      (await this.options.pauses?.all().catch((err: unknown) => {
        this.options.logger.warn({ err }, 'jobs_overview_pauses_failed');
        return {};
      })) ?? {};
    return Promise.all(
      defs.map(async (def) => {
        const [active, finished] = await Promise.all([
          this.store.list({ job_id: def.job_id, status: [...ACTIVE_STATUSES], limit: 20 }),
          this.store.list({ job_id: def.job_id, status: [...FINISHED_STATUSES], limit: 1 }),
        ]);
        return {
          ...toPublic(def),
          paused: !!paused[def.job_id],
          active_runs: active.runs,
          last_run: finished.runs[0] ?? null,
        };
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
   * Marks a run failed with a reason (e.g. stuck: no worker took it), as a `jm:failed` event in the run's
   * queue stream that is applied at once (see {@link RunWriter.markFailed}). A later event of the same run
   * (a worker that finally takes it) still wins.
   */
  markRunFailed(run: JobRun, reason: string): Promise<void> {
    return this.writer.markFailed(run, reason);
  }

  /** Annotates a run (stuck flags, retried_by) through {@link RunWriter.mark}. */
  markRun(run: JobRun, marks: RunMarks): Promise<void> {
    return this.writer.mark(run, marks);
  }

  /**
   * Runs a static job now. Refuses dynamic jobs (job_not_triggerable), disabled ones (job_disabled) and,
   * unless allow_concurrent, a job with a run already pending or running (job_already_running).
   * The pending run is stored before this returns (when the store answers), so its id can be looked up at once.
   */
  async trigger(jobId: string, by: TriggerBy = {}): Promise<{ run_id: string }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    if (!def.can_trigger) throw jobNotTriggerable(jobId);
    if (!def.enabled) throw jobDisabled(jobId);
    await this.assertNotPaused(jobId);
    const exclusive = exclusiveKey(def);
    if (exclusive) {
      const { runs } = await this.store.list({ job_id: jobId, status: [...ACTIVE_STATUSES], limit: 1 });
      if (runs[0]) throw jobAlreadyRunning(jobId, runs[0].run_id);
    }
    const envelope: JobEnvelope = {
      trigger: by.trigger ?? 'manual',
      user_id: by.user_id ?? null,
      payload: by.payload,
      triggered_by: by.triggered_by ?? null,
      ...(by.retry_of ? { retry_of: by.retry_of } : {}),
    };
    return this.enqueue(def, envelope, exclusive, by.run_id);
  }

  /**
   * Runs a failed run's job again with the same payload and user; the new run's trigger is `manual`,
   * `retry_of` names the old run and the old run gets `retried_by` (a mark). A failed run is retried once,
   * whichever process asks (a claim in {@link JobsServiceOptions.retries}); retry the new run if it fails too.
   * @throws run_not_found; run_not_failed (409) when the run did not fail; run_already_retried (409, with
   *   the retry's `run_id`); job_paused (409); the trigger() refusals for a static job; job_already_running.
   */
  async retry(
    runId: string,
    by: Pick<TriggerBy, 'triggered_by'> = {},
    opts: {
      /**
       * A bulk action resuming the run its dead predecessor was handling: a claim still "being made" is taken
       * over (the retry's id is derived from the run's, so making it again adds no second job).
       */
      resume?: boolean;
    } = {},
  ): Promise<{ run_id: string; retry_of: string }> {
    const run = await this.getRun(runId);
    if (run.status !== 'failed') throw runNotFailed(runId, run.status);
    if (run.retried_by) throw runAlreadyRetried(runId, run.retried_by);
    const def = this.registry.get(run.job_id);
    if (!def) throw jobNotFound(run.job_id);
    await this.assertNotPaused(def.job_id);
    const claim = await this.retries.claim(runId, { takeOverPending: opts.resume });
    if (!claim.ok) throw runAlreadyRetried(runId, claim.retried_by);
    let out: { run_id: string };
    try {
      out = await this.retryOnce(run, def, by.triggered_by ?? null);
    } catch (err) {
      await this.retries.release(runId, claim.token);
      throw err;
    }
    await this.retries.confirm(runId, out.run_id);
    await this.writer.mark(run, { retried_by: out.run_id }).catch((err: unknown) => {
      // The claim holds the link for the refusals; a store outage only loses the link back on the run.
      this.options.logger.warn(
        { err, run_id: runId, retry_run_id: out.run_id, job_id: run.job_id },
        'retried_by_mark_failed',
      );
    });
    return { run_id: out.run_id, retry_of: run.run_id };
  }

  /** The retry itself, once the claim is held (see {@link retry}). */
  private async retryOnce(run: JobRun, def: JobDefinition, triggered_by: string | null) {
    const handler = this.retryHandlers.get(def.job_id);
    if (handler) return handler(run, { triggered_by });
    const id = retryRunId(run.run_id, def.is_dynamic ? 'a' : 'm');
    try {
      return await this.retryAs(id, run, def, triggered_by);
    } catch (err) {
      // Our own retry, made before (a process that died after enqueueing it): done, not refused.
      if (err instanceof AppError && err.code === 'job_already_running' && err.extra.run_id === id)
        return { run_id: id };
      throw err;
    }
  }

  private async retryAs(id: string, run: JobRun, def: JobDefinition, triggered_by: string | null) {
    let out: { run_id: string };
    if (def.is_dynamic) {
      // A dynamic run only makes sense with its payload, which lives in its BullMQ job.
      const envelope = (await this.enqueuer.envelopeOf?.(run)) ?? null;
      if (!envelope) throw runPayloadGone(run.run_id);
      const res = await this.enqueueDynamic(def.job_id, envelope.payload, {
        user_id: run.user_id,
        runId: id,
        retry_of: run.run_id,
        triggered_by,
      });
      if (res.deduplicated) throw jobAlreadyRunning(def.job_id, res.run_id);
      out = res;
    } else {
      out = await this.trigger(run.job_id, {
        trigger: 'manual',
        user_id: run.user_id,
        payload: await this.enqueuer.payloadOf?.(run),
        triggered_by,
        retry_of: run.run_id,
        run_id: id,
      });
    }
    return out;
  }

  /**
   * Cancels a pending or running run. Pending: its job is removed from the queue and the run is recorded
   * `cancelled` at once (a `jm:cancelled` event). Running: every worker process is told (pub/sub); the one
   * running it aborts the processor's signal and the run ends `cancelled` (a processor that ignores the
   * signal is still recorded cancelled when it returns, and its result is not taken).
   * @throws run_not_found; run_not_active (409) when the run already ended.
   */
  async cancel(runId: string, by: string): Promise<{ run_id: string; status: 'cancelled' | 'cancelling' }> {
    const run = await this.getRun(runId);
    if (!ACTIVE_STATUSES.includes(run.status)) throw runNotActive(runId, run.status);
    const reason = `${CANCELLED_REASON_PREFIX} cancelled by ${by}`;
    const removed = (await this.enqueuer.removeWaiting?.(run)) ?? 'active';
    if (removed !== 'active') {
      await this.writer.markCancelled(run, removed === 'removed' ? `${reason} before it started` : reason);
      return { run_id: runId, status: 'cancelled' };
    }
    await this.enqueuer.publishCancel?.(runId, by);
    return { run_id: runId, status: 'cancelling' };
  }

  /** Replaces the plain retry of one dynamic job (see {@link RetryHandler}). */
  setRetryHandler(jobId: string, handler: RetryHandler): void {
    this.retryHandlers.set(jobId, handler);
  }

  /**
   * Enqueues a dynamic job on behalf of application code (a user action). The run's trigger is `api`;
   * its `triggered_by` is `opts.triggered_by`, else `app`.
   * `exclusiveKey` defaults to the job's concurrency rule ({@link exclusiveKey}); a deduplicated call
   * returns the run already waiting or running. @throws job_not_found when the registry has no such job;
   * job_paused (409) while an operator has paused it.
   */
  async enqueueDynamic(
    jobId: string,
    payload: unknown,
    opts: {
      user_id?: string | null;
      runId?: string;
      exclusiveKey?: string;
      /** #12: the failed run this one retries, and who asked. */
      retry_of?: string | null;
      triggered_by?: string | null;
    } = {},
  ): Promise<{ run_id: string; deduplicated: boolean }> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    await this.assertNotPaused(jobId);
    const envelope: JobEnvelope = {
      trigger: 'api',
      user_id: opts.user_id ?? null,
      payload,
      // Application code that names no caller (a user action in the app) is `app`.
      triggered_by: opts.triggered_by || APP_TRIGGERED_BY,
      ...(opts.retry_of ? { retry_of: opts.retry_of } : {}),
    };
    const createdAt = new Date();
    const res = await this.enqueuer.enqueue(def, envelope, {
      runId: opts.runId ?? newRunId('a'),
      exclusiveKey: opts.exclusiveKey ?? exclusiveKey(def) ?? undefined,
    });
    if (!res.deduplicated) await this.recordPending(def, res.runId, envelope, createdAt);
    return { run_id: res.runId, deduplicated: res.deduplicated };
  }

  private async enqueue(
    def: JobDefinition,
    envelope: JobEnvelope,
    exclusive: string | null,
    runId = newRunId('m'),
  ): Promise<{ run_id: string }> {
    const createdAt = new Date();
    const res = await this.enqueuer.enqueue(def, envelope, {
      runId,
      exclusiveKey: exclusive ?? undefined,
    });
    if (res.deduplicated) throw jobAlreadyRunning(def.job_id, res.runId);
    await this.recordPending(def, res.runId, envelope, createdAt);
    return { run_id: res.runId };
  }

  /**
   * Stores the pending run right away (see {@link RunWriter.recordEnqueued}); the worker that runs it
   * records the rest. Best effort: the job is already queued, so a store outage must not turn this call into
   * an error (a caller who retried would run the job twice); the worker, or else the reconciler (from the
   * `added` event), records the run once the store is back.
   */
  private async recordPending(
    def: JobDefinition,
    runId: string,
    envelope: JobEnvelope,
    createdAt: Date,
  ): Promise<void> {
    await this.writer
      .recordEnqueued(runId, {
        job_id: def.job_id,
        queue: def.queue,
        created_at: createdAt.toISOString(),
        trigger: envelope.trigger ?? 'api',
        user_id: envelope.user_id ?? null,
        triggered_by: envelope.triggered_by ?? null,
        retry_of: envelope.retry_of ?? null,
        // Search terms are indexed when the run is created: here, for a run created at enqueue.
        ...searchIdentity(envelope.payload, def.search_keys),
      })
      .catch((err: unknown) => {
        this.options.logger.warn({ err, run_id: runId, job_id: def.job_id }, 'run_pending_write_failed');
      });
  }
}

function toPublic(def: JobDefinition): PublicJob {
  const { callback_name: _hidden, ...rest } = def;
  return { ...rest, schedule: describeSchedule(def) };
}

/** `{search}` for a run's identity when its payload has values for the job's search_keys, else nothing. */
function searchIdentity(payload: unknown, keys: readonly string[] | undefined): { search?: string[] } {
  const search = searchTerms(payload, keys);
  return search.length ? { search } : {};
}
