import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { isCancelledReason, isSkippedResult, type JobEnvelope } from '../monitor/lifecycle';
import type { JobDefinition } from '../monitor/registry';
import {
  type AttemptRecord,
  DEFAULT_RUN_RESULT_MAX_BYTES,
  FINISHED_STATUSES,
  MAX_RUN_LOGS,
  MAX_STACK_LINES,
  mergeTimes,
  mergeUpdates,
  prepareUpdate,
  type RunIdentity,
  type RunLog,
  type RunPatch,
  type RunUpdate,
  searchTerms,
} from '../monitor/run';
import type { RunWriter } from '../monitor/run-writer';
import type { AppliedListener } from '../monitor/tracker';
import { isoFromMs, isoOrNull } from '../monitor/iso-time';

/** Something that stamps seqs on Redis' clock (see RedisClock). */
export interface SeqClock {
  seq(): string;
  now(): number;
}

export interface RunRecorderOptions {
  writer: Pick<RunWriter, 'apply'>;
  clock: SeqClock;
  logger: Logger;
  /** This worker's name (`host:pid`), stored as the run's `worker`. */
  worker: string;
  /**
   * How long a change waits for others before the batch is written (default 10 ms). A no-op job's start and
   * end then usually land in one write: one merged update creates the run already finished.
   */
  flushMs?: number;
  /** A batch is written at once when this many runs have changes (default 500). */
  maxBatch?: number;
  /** Runs whose changes may wait in memory while the store is down; past it the oldest are dropped. */
  maxBufferedRuns?: number;
  /** Cap on `result` and `error_message` (RUN_RESULT_MAX_BYTES). */
  maxResultBytes?: number;
  /**
   * How long a run's start waits before it is written on its own (default 100 ms): a run that ends, reports
   * progress or logs sooner is written once, start and end together (most short jobs cost one write).
   */
  startDelayMs?: number;
  onDropped?: (count: number) => void;
  /**
   * Hears the span of ends that may be missing from the store because updates were dropped (buffer full
   * during an outage), once the store takes writes again; resolve once the span is safely reported (the
   * reconciler then records those runs from BullMQ). Until then {@link RunRecorder.storedThrough} stays
   * before the span.
   */
  onGap?: (fromMs: number, toMs: number) => Promise<void>;
}

const iso = isoOrNull;
/** Logs of an update that carries none (never mutated: merges concatenate into new arrays). */
const NO_LOGS: RunLog[] = [];

/** When a job's run begins: when it was added, or when it is due (a delayed job). */
function createdMs(job: Job): number {
  return (job.timestamp || Date.now()) + (job.delay || 0);
}

/** The first {@link MAX_STACK_LINES} lines of an error's stack. */
export function stackOf(err: unknown): string | null {
  const stack = err instanceof Error ? err.stack : undefined;
  return stack ? stack.split('\n').slice(0, MAX_STACK_LINES).join('\n') : null;
}

const FINISHED = new Set<string>(FINISHED_STATUSES);

/** How far back a BullMQ error makes ends uncertain (a commit whose reply was lost, retried meanwhile). */
export const UNCERTAIN_BEFORE_MS = 30_000;
/** How long after the last BullMQ error ends stay uncertain. */
export const UNCERTAIN_AFTER_MS = 5_000;

/**
 * Records the runs this worker process executes, in batched writes of its own (issue #16): a run's start,
 * progress, log lines and end become RunUpdates stamped on Redis' clock, merged per run in memory and written
 * through the RunWriter every `flushMs` (one store call per batch). Recording capacity so grows with the
 * number of worker processes instead of being bounded by one stream reader.
 *
 * What a worker can't report — a stall, a dead worker's last changes still in its buffer, a removal, a job
 * added outside the API — the reconciler (Tracker in reconcile mode) finds on BullMQ's events streams.
 * Ends are recorded only after BullMQ committed them (the Worker's own `completed` / `failed` events), so the
 * record never says "completed" for an attempt BullMQ did not take.
 */
export class RunRecorder {
  private pending = new Map<string, RunUpdate>();
  /** Starts not written yet, with when they started (see {@link RunRecorderOptions.startDelayMs}). */
  private starting = new Map<string, { job: Job; identity: RunIdentity; at: number }>();
  private startTimer: NodeJS.Timeout | null = null;
  private readonly startDelayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  private readonly listeners: AppliedListener[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;
  private readonly maxResultBytes: number;
  private droppedCount = 0;
  /** Local time at which the last successfully stored batch was taken: every end heard before is stored. */
  private lastStoredTake = Date.now();
  /**
   * A span (local ms) whose ends may be missing from the store and that the reconciler has not been told of
   * yet: updates dropped while the store was down, or BullMQ trouble (see {@link uncertain}).
   */
  private gap: { from: number; to: number } | null = null;
  /** Bumped whenever the span grows, so a report of an older state does not clear a newer one. */
  private gapVersion = 0;
  private gapTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RunRecorderOptions) {
    this.flushMs = opts.flushMs ?? 10;
    this.startDelayMs = opts.startDelayMs ?? 100;
    this.maxBatch = opts.maxBatch ?? 500;
    this.maxBuffered = opts.maxBufferedRuns ?? 100_000;
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES;
  }

  /** Hears every batch once it is stored (metrics, failure alerts, live stream). Must not throw. */
  onApplied(listener: AppliedListener): void {
    this.listeners.push(listener);
  }

  /** Updates dropped since start because the buffer was full during a store outage. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Runs whose changes wait to be written. */
  bufferedRuns(): number {
    return this.pending.size + this.starting.size;
  }

  /**
   * This process's clock (ms) up to which every end BullMQ reported here is stored (or reported as a gap):
   * the worker heartbeat publishes it, and if the process dies the reconciler records, from BullMQ, the ends
   * after it. Now, when nothing waits; never past a span of dropped updates not yet reported.
   */
  storedThrough(): number {
    const stored = this.pending.size === 0 && !this.flushing ? Date.now() : this.lastStoredTake;
    return this.gap === null ? stored : Math.min(stored, this.gap.from);
  }

  /**
   * BullMQ reported trouble on this worker (its `error` event: a lost connection, a commit it could not
   * confirm). A job BullMQ committed while the reply was lost never reaches the `completed` event, so the
   * ends around now are reported as a gap (from {@link UNCERTAIN_BEFORE_MS} before to
   * {@link UNCERTAIN_AFTER_MS} after the last trouble) and the reconciler checks them against BullMQ.
   */
  uncertain(now = Date.now()): void {
    this.widenGap(now - UNCERTAIN_BEFORE_MS, now + UNCERTAIN_AFTER_MS);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      this.reportGap();
    }, UNCERTAIN_AFTER_MS + 100);
    this.gapTimer.unref?.();
  }

  private widenGap(from: number, to: number): void {
    this.gap = this.gap
      ? { from: Math.min(this.gap.from, from), to: Math.max(this.gap.to, to) }
      : { from, to };
    this.gapVersion++;
  }

  /** The identity of a job's run, as the enqueuer and the reconciler compute it. */
  identityOf(job: Job, def: JobDefinition): RunIdentity {
    const env = (job.data ?? {}) as JobEnvelope & { triggered_by?: string; retry_of?: string };
    const identity: RunIdentity = {
      job_id: def.job_id,
      queue: def.queue,
      created_at: isoFromMs(createdMs(job)),
      trigger: env.trigger ?? (job.id?.startsWith('repeat:') ? 'scheduled' : 'api'),
      user_id: env.user_id == null ? null : String(env.user_id),
    };
    if (env.triggered_by) identity.triggered_by = String(env.triggered_by);
    if (env.retry_of) identity.retry_of = String(env.retry_of);
    if (def.search_keys?.length) {
      const search = searchTerms(env.payload, def.search_keys);
      if (search.length) identity.search = search;
    }
    return identity;
  }

  /** An attempt started on this worker (BullMQ moved the job to active). */
  started(job: Job, identity: RunIdentity): void {
    if (this.startDelayMs <= 0 || this.stopped) {
      this.add(this.startUpdate(job, identity));
      return;
    }
    // Built only if the run is still going when its start is due (most short runs end first).
    this.starting.set(job.id!, { job, identity, at: Date.now() });
    if (!this.startTimer) this.scheduleStarts(this.startDelayMs);
  }

  private startUpdate(job: Job, identity: RunIdentity): RunUpdate {
    const started = job.processedOn ?? this.opts.clock.now();
    return {
      run_id: job.id!,
      seq: this.opts.clock.seq(),
      identity,
      times: { created: createdMs(job), started_at: started },
      patch: {
        status: 'running',
        started_at: isoFromMs(started),
        ended_at: null,
        attempts: Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1),
        stalls: job.stalledCounter ?? 0,
        worker: this.opts.worker,
      },
      logs: NO_LOGS,
    };
  }

  /** Moves the starts that waited long enough (all of them with `all`) to the buffer that is written. */
  private releaseStarts(all = false): void {
    const cutoff = Date.now() - this.startDelayMs;
    for (const [id, s] of this.starting) {
      if (!all && s.at > cutoff) break; // insertion order: the rest started later
      this.starting.delete(id);
      this.add(this.startUpdate(s.job, s.identity));
    }
  }

  private scheduleStarts(ms: number): void {
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      this.releaseStarts();
      const next = this.starting.values().next();
      if (!next.done) this.scheduleStarts(Math.max(1, next.value.at + this.startDelayMs - Date.now()));
    }, ms);
  }

  /** Progress a processor reported. */
  progress(runId: string, identity: RunIdentity, processed: number, total: number): void {
    const patch: RunPatch =
      total > 0
        ? {
            processed_items: processed,
            total_items: total,
            progress: Math.max(0, Math.min(100, Math.round((processed / total) * 1000) / 10)),
          }
        : { processed_items: processed };
    this.add({ run_id: runId, seq: this.opts.clock.seq(), identity, patch, logs: NO_LOGS });
  }

  /** Log lines a processor wrote (each gets its own seq, so a replay never duplicates one). */
  log(runId: string, identity: RunIdentity, lines: Omit<RunLog, 'seq'>[]): void {
    if (!lines.length) return;
    const logs = lines.map((l) => ({ ...l, seq: this.opts.clock.seq() }));
    this.add({
      run_id: runId,
      seq: logs[logs.length - 1].seq,
      identity,
      patch: {},
      logs,
    });
  }

  /** BullMQ committed the attempt as completed (Worker `completed` event). */
  completed(job: Job, identity: RunIdentity, result: unknown): void {
    const ended = job.finishedOn ?? this.opts.clock.now();
    const started = job.processedOn ?? null;
    const skipped = isSkippedResult(result);
    const endedAt = isoFromMs(ended);
    const startedAt = iso(started);
    const attempt = this.attemptOf(job, startedAt, endedAt, skipped ? 'skipped' : 'completed', null);
    const patch: RunPatch = {
      status: skipped ? 'skipped' : 'completed',
      result: result ?? null,
      ended_at: endedAt,
      duration_ms: started ? Math.max(0, ended - started) : null,
      attempts: attempt.attempt,
      stalls: job.stalledCounter ?? 0,
      worker: this.opts.worker,
    };
    if (!skipped) {
      patch.progress = 100;
      patch.error_message = null;
    }
    if (startedAt) patch.started_at = startedAt;
    const times = { created: createdMs(job), ended_at: ended, ...(started ? { started_at: started } : {}) };
    this.add({ run_id: job.id!, seq: this.opts.clock.seq(), identity, patch, logs: NO_LOGS, attempt, times });
  }

  /**
   * BullMQ committed a failed attempt (Worker `failed` event): the run failed for good when BullMQ set
   * `finishedOn`, was cancelled when the reason says so, else it waits for its next attempt.
   */
  failed(job: Job, identity: RunIdentity, err: Error | undefined): void {
    const reason = err?.message || job.failedReason || 'failed';
    const final = !!job.finishedOn;
    const cancelled = isCancelledReason(reason);
    const ended = job.finishedOn ?? this.opts.clock.now();
    const started = job.processedOn ?? null;
    const endedAt = isoFromMs(ended);
    const attempt = this.attemptOf(job, iso(started), endedAt, cancelled ? 'cancelled' : 'failed', reason);
    const patch: RunPatch = final
      ? {
          status: cancelled ? 'cancelled' : 'failed',
          ended_at: endedAt,
          duration_ms: started ? Math.max(0, ended - started) : null,
        }
      : { status: 'pending' };
    patch.error_message = reason;
    patch.error_stack = stackOf(err);
    patch.attempts = attempt.attempt;
    patch.stalls = job.stalledCounter ?? 0;
    patch.worker = this.opts.worker;
    const times = { created: createdMs(job), ...(final ? { ended_at: ended } : {}) };
    this.add({ run_id: job.id!, seq: this.opts.clock.seq(), identity, patch, logs: NO_LOGS, attempt, times });
  }

  /** Resolves when everything recorded so far is stored (tests, shutdown). */
  idle(): Promise<void> {
    this.releaseStarts(true);
    if (!this.pending.size && !this.flushing) return Promise.resolve();
    this.schedule(0);
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes what is buffered (one last attempt), reports an open gap at once, and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.gapTimer) clearTimeout(this.gapTimer);
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    this.releaseStarts(true);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
    await this.flush().catch((err) => this.opts.logger.warn({ err }, 'recorder_final_write_failed'));
    const gap = this.gap;
    if (gap && this.opts.onGap && !this.pending.size) {
      await this.opts.onGap(gap.from, Math.max(gap.to, Date.now())).then(
        () => {
          this.gap = null;
        },
        (err) => this.opts.logger.warn({ err }, 'recorder_gap_report_failed'),
      );
    }
  }

  /**
   * True while something recorded here is neither stored nor reported as a gap: the heartbeat then keeps
   * this worker's recorder entry at a stop, so the reconciler covers it.
   */
  unsettled(): boolean {
    return this.pending.size > 0 || this.starting.size > 0 || this.gap !== null;
  }

  private attemptOf(
    job: Job,
    startedAt: string | null,
    endedAt: string,
    outcome: AttemptRecord['outcome'],
    error: string | null,
  ): AttemptRecord {
    return {
      attempt: Math.max(job.attemptsStarted ?? 0, job.attemptsMade, 1),
      started_at: startedAt,
      ended_at: endedAt,
      worker: this.opts.worker,
      outcome,
      error,
    };
  }

  private add(raw: RunUpdate): void {
    const start = this.starting.get(raw.run_id);
    if (start) {
      // The run does something else before its start was written: both go in the next batch, as one; an end
      // that carries the start's fields (time, attempt, stalls, worker) makes the start unnecessary.
      this.starting.delete(raw.run_id);
      const p = raw.patch;
      const endCarriesStart = p.status !== undefined && FINISHED.has(p.status) && p.started_at !== undefined;
      if (!endCarriesStart) this.add(this.startUpdate(start.job, start.identity));
    }
    // Only an end carries a result or an error to cap (the listeners must not carry a huge one); the
    // identity's time is already valid (identityOf), and the store normalises again anyway.
    const p = raw.patch;
    const u =
      (p.result !== undefined && p.result !== null) || p.error_message
        ? prepareUpdate(raw, this.maxResultBytes)
        : raw;
    const prev = this.pending.get(u.run_id);
    if (prev) {
      // Not stored yet and owned by this buffer: fold in place (a no-op job's start and end become one
      // update without copying). Later updates of the same job carry the same identity.
      if (prev.times || u.times) prev.times = mergeTimes(prev, u);
      Object.assign(prev.patch, u.patch);
      if (u.seq > prev.seq) prev.seq = u.seq;
      if (u.logs.length) prev.logs = prev.logs.concat(u.logs).slice(-MAX_RUN_LOGS);
      if (u.attempt) prev.attempt = u.attempt;
      if (u.marks) prev.marks = { ...prev.marks, ...u.marks };
    } else {
      // Every caller builds a fresh update (and patch), so the buffer may own it.
      this.pending.set(u.run_id, u);
      if (this.pending.size > this.maxBuffered) this.dropOldest();
    }
    this.schedule(this.pending.size >= this.maxBatch ? 0 : this.flushMs);
  }

  private dropOldest(): void {
    // Everything buffered arrived after the last stored batch was taken: that is where the span starts; it
    // ends when a batch is stored again.
    this.widenGap(this.lastStoredTake, Date.now());
    const drop = this.pending.size - this.maxBuffered;
    const it = this.pending.keys();
    for (let i = 0; i < drop; i++) this.pending.delete(it.next().value as string);
    this.droppedCount += drop;
    this.opts.onDropped?.(drop);
    this.opts.logger.error({ dropped: drop }, 'recorder_buffer_overflow');
  }

  private reporting = false;

  /**
   * Tells the reconciler of the gap once it is over (the store takes writes, no BullMQ trouble for a while);
   * retried with the next stored batch until it succeeds.
   */
  private reportGap(): void {
    const gap = this.gap;
    if (!gap || this.reporting || !this.opts.onGap || Date.now() < gap.to || this.failures) return;
    this.reporting = true;
    const version = this.gapVersion;
    this.opts
      .onGap(gap.from, gap.to)
      .then(
        () => {
          // Trouble since the report started a new span, from where the reported one ended.
          this.gap = this.gapVersion === version ? null : { from: gap.to, to: this.gap?.to ?? gap.to };
          this.opts.logger.info(
            { from: new Date(gap.from).toISOString(), to: new Date(gap.to).toISOString() },
            'recorder_gap_reported',
          );
        },
        (err) => this.opts.logger.warn({ err }, 'recorder_gap_report_failed'),
      )
      .finally(() => {
        this.reporting = false;
      });
  }

  private schedule(ms: number): void {
    if (this.flushing || this.stopped) return;
    if (this.timer && ms > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.pending.size && !this.stopped) this.schedule(this.failures ? this.backoff() : 0);
        else if (!this.pending.size) for (const w of this.idleWaiters.splice(0)) w();
      });
    }, ms);
  }

  private backoff(): number {
    return Math.min(30_000, 100 * 2 ** Math.min(this.failures, 8));
  }

  private async flush(): Promise<void> {
    if (!this.pending.size) return;
    const takenAt = Date.now();
    const batch = this.pending;
    this.pending = new Map();
    const updates = [...batch.values()];
    try {
      await this.opts.writer.apply(updates);
    } catch (err) {
      this.failures++;
      this.opts.logger.warn(
        { err, buffered: updates.length, retry_in_ms: this.backoff() },
        'recorder_store_write_failed',
      );
      // Put the batch back in front of what arrived meanwhile, merged per run, in order.
      for (const [id, u] of this.pending) {
        const prev = batch.get(id);
        batch.set(id, prev ? mergeUpdates(prev, u) : u);
      }
      this.pending = batch;
      if (this.pending.size > this.maxBuffered) this.dropOldest();
      return;
    }
    if (this.failures) this.opts.logger.info({}, 'recorder_store_recovered');
    this.failures = 0;
    this.lastStoredTake = takenAt;
    if (this.gap) {
      if (this.gap.to < takenAt) this.gap.to = takenAt;
      this.reportGap();
    }
    for (const listener of this.listeners) {
      try {
        listener(updates);
      } catch (err) {
        this.opts.logger.warn({ err }, 'recorder_listener_failed');
      }
    }
  }
}
