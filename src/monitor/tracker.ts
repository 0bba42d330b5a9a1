import type { Logger } from 'pino';
import {
  eventToUpdate,
  type IsRegistered,
  type SearchKeysOf,
  type JobSnapshot,
  LOG_EVENT,
  type LifecycleEvent,
  needsSnapshot,
} from './lifecycle';
import {
  DEFAULT_RUN_RESULT_MAX_BYTES,
  FINISHED_STATUSES,
  mergeUpdates,
  prepareUpdate,
  type RunUpdate,
} from './run';
import type { RunStore } from './run-store';
import { RunWriter } from './run-writer';

/** Where the tracker reads lifecycle events from (BullMQ's events streams in production). */
export interface LifecycleSource {
  /** Last event id whose effects are stored, per queue; null when the tracker never ran. */
  loadCheckpoint(queue: string): Promise<string | null>;
  saveCheckpoint(queue: string, eventId: string): Promise<void>;
  /**
   * Starts delivering a queue's events after `fromId`, in order. In reconcile mode the tracker passes
   * `reconcileGraceMs`: a source may then deliver only events at least that old and leave out what the
   * tracker would skip anyway (events workers report, and the `added`/`waiting` of a job a worker took
   * since), reporting how far it read through `onScanned`.
   */
  subscribe(
    queue: string,
    fromId: string,
    onEvent: (ev: LifecycleEvent) => void,
    opts?: SubscribeOptions,
  ): Promise<{ close(): Promise<void> }>;
  /** Reads the jobs' hashes in one round trip; missing jobs are absent from the map. */
  snapshots(queue: string, jobIds: string[]): Promise<Map<string, JobSnapshot>>;
  /**
   * Reconcile mode: the runs of a queue that `worker` ended (completed, or failed for good) with their end
   * in [fromMs, toMs], and the source's clock now (the seq of the updates made of them).
   */
  endsBy?(queue: string, worker: string, fromMs: number, toMs: number): Promise<WorkerEnds>;
}

export interface SubscribeOptions {
  /** Reconcile mode's grace (see {@link TrackerOptions.reconcile}). */
  reconcileGraceMs?: number;
  /** How far a filtering source has read (an event id), including entries it left out. */
  onScanned?: (id: string) => void;
}

/** See {@link LifecycleSource.endsBy}. */
export interface WorkerEnds {
  /** The source's time (ms, the clock of its event ids). */
  now: number;
  completed: string[];
  failed: string[];
}

/**
 * A span in which a worker's ends may not have been stored: the worker died (its recorder's buffer went with
 * it) or dropped updates during a store outage. The reconciler records, from BullMQ, what the store lacks.
 */
export interface RecordingGap {
  worker: string;
  queues: readonly string[];
  fromMs: number;
  toMs: number;
}

/** Where the reconciler learns of {@link RecordingGap}s (the workers' recorder registry in Redis). */
export interface GapSource {
  /** The gaps to cover now. */
  gaps(): Promise<RecordingGap[]>;
  /** The gap is covered: forget it. */
  covered(gap: RecordingGap): Promise<void>;
}

/** Hears every batch of updates once it is stored (live dashboard stream, alerts, metrics). */
export type AppliedListener = (updates: readonly RunUpdate[]) => void;

export interface TrackerOptions {
  queues: string[];
  source: LifecycleSource;
  store: RunStore;
  logger: Logger;
  /** Runs whose updates may wait in memory while the store is down; past it the oldest are dropped. */
  maxBufferedRuns?: number;
  /** Called with the number of updates dropped because the buffer was full. */
  onDropped?: (count: number) => void;
  /**
   * How long the first event of a batch waits for others before the batch is written (default 25 ms).
   * A short job's `active` and `completed` then usually land in one batch and cost one snapshot read and
   * one store write instead of two; the throughput bench showed this as the biggest lever.
   */
  batchWindowMs?: number;
  /** Checkpoints are saved at most this often while events keep coming (default 250 ms), and when idle. */
  checkpointEveryMs?: number;
  /**
   * Cap on `result` and `error_message` (RUN_RESULT_MAX_BYTES), applied as events arrive so that neither
   * the buffer nor the listeners (live stream, alerts) carry a huge one. @defaultValue 64 KiB
   */
  maxResultBytes?: number;
  /**
   * Which job names are registry jobs of a queue; any other name is stored as `unregistered` (see
   * UNREGISTERED_JOB_ID). Without it every name is taken as it is (tests of the tracker alone).
   */
  isRegistered?: IsRegistered;
  /** A registry job's searchable payload keys: a run the tracker creates gets its search terms. */
  searchKeysOf?: SearchKeysOf;
  /**
   * Reconcile mode: worker processes record the runs they execute (RunRecorder), and the tracker only covers
   * what no worker can report. It skips `active`, `progress` and log events; it folds at once what only
   * BullMQ knows (stalled, removed, a retry's wait, a policy's failure mark); and it checks `graceMs` after
   * the event whether the store already has a run that was added (else it records it pending: a job added
   * past the API, a scheduler's job that waits) or has the end of a run that completed or failed (else it
   * records it: the worker died before its batch was written). Without it, every event is folded.
   */
  reconcile?: {
    graceMs: number;
    /**
     * Dead workers' and dropped spans (see {@link RecordingGap}), swept every `sweepEveryMs` (default 5 s):
     * the ends a worker reported itself need no check per run; only a gap's are looked up.
     */
    gaps?: GapSource;
    sweepEveryMs?: number;
  };
  /** Reconcile mode: the store's statuses of runs (RunStore.statuses). */
  lookup?: StatusLookup;
}

/** An event the reconciler looks at again once its grace has passed. */
interface Deferred {
  ev: LifecycleEvent;
  /** When to check (ms, event time + grace). */
  due: number;
  /** Id of the event received just before this one: the checkpoint may not pass it while this waits. */
  prevId: string | null;
}

/** What the reconciler needs from the store: the status of runs, absent when not stored. */
export type StatusLookup = (runIds: string[]) => Promise<Map<string, string>>;

/** The older of two stream ids (null when either is null: nothing is safe to save). */
function olderId(a: string | null, b: string | null): string | null {
  if (!a || !b) return null;
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am < bm || (am === bm && as <= bs) ? a : b;
}

/**
 * Events the workers report themselves (their recorders write them): the reconciler skips them. A completed
 * run whose worker died before writing it is found by the gap sweep instead (see {@link RecordingGap}).
 */
const WORKER_REPORTED = new Set(['active', 'progress', 'completed', LOG_EVENT]);
const FINISHED = new Set<string>(FINISHED_STATUSES);

interface QueueState {
  queue: string;
  incoming: LifecycleEvent[];
  /** Updates not yet stored, merged per run, in arrival order. */
  pending: Map<string, RunUpdate>;
  /** Last event id included in `pending` (checkpoint once they are stored). */
  pendingUpTo: string | null;
  /** The write loop in progress, if any (stop waits for it before its last write). */
  flushing: Promise<void> | null;
  /** The batch window's timer, while one is set. */
  scheduled: NodeJS.Timeout | null;
  failures: number;
  retryTimer: NodeJS.Timeout | null;
  sub: { close(): Promise<void> } | null;
  /** When the checkpoint was last saved (ms). */
  checkpointAt: number;
  /** Reconcile mode: events waiting for their grace, in stream order. */
  deferred: Deferred[];
  /** Id of the last event received (reconcile mode). */
  lastId: string | null;
  deferTimer: NodeJS.Timeout | null;
  /** The reconciler's check in progress, if any (stop waits for it). */
  checking: Promise<void> | null;
  /**
   * Runs a worker took (`active` seen) whose `added` check is still deferred: a taken run needs no pending
   * record (its worker records it; if that worker dies, the stall or the end is checked instead).
   */
  taken: Map<string, boolean>;
}

/**
 * Mirrors every BullMQ run into the RunStore. Events are taken in micro-batches (everything one stream
 * read delivered), folded per run, written with one store call, and only then checkpointed, so a tracker
 * that stops and starts again resumes from the last stored event and loses nothing the stream still holds.
 * Store failures keep the updates in a bounded buffer and retry with backoff; workers are never slowed.
 * Applying an event twice is harmless (see RunUpdate), so two trackers can run side by side.
 */
export class Tracker {
  private readonly states = new Map<string, QueueState>();
  private readonly maxBuffered: number;
  private readonly windowMs: number;
  private readonly checkpointEveryMs: number;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private readonly listeners: AppliedListener[] = [];
  private droppedCount = 0;
  private readonly writer: RunWriter;

  constructor(private readonly opts: TrackerOptions) {
    this.writer = new RunWriter(opts.store);
    this.maxBuffered = opts.maxBufferedRuns ?? 100_000;
    this.windowMs = opts.batchWindowMs ?? 25;
    this.checkpointEveryMs = opts.checkpointEveryMs ?? 250;
  }

  async start(): Promise<void> {
    for (const queue of this.opts.queues) {
      const state: QueueState = {
        queue,
        incoming: [],
        pending: new Map(),
        pendingUpTo: null,
        flushing: null,
        scheduled: null,
        failures: 0,
        retryTimer: null,
        sub: null,
        checkpointAt: 0,
        deferred: [],
        lastId: null,
        deferTimer: null,
        checking: null,
        taken: new Map(),
      };
      this.states.set(queue, state);
      const from = (await this.opts.source.loadCheckpoint(queue)) ?? '0';
      this.opts.logger.info({ queue, from }, 'tracker_resume');
      state.sub = await this.opts.source.subscribe(
        queue,
        from,
        (ev) => this.onEvent(state, ev),
        this.opts.reconcile
          ? { reconcileGraceMs: this.opts.reconcile.graceMs, onScanned: (id) => this.onScanned(state, id) }
          : undefined,
      );
    }
    const gaps = this.opts.reconcile?.gaps;
    if (gaps) {
      this.sweepTimer = setInterval(() => void this.sweep(gaps), this.opts.reconcile?.sweepEveryMs ?? 5000);
      this.sweepTimer.unref?.();
    }
  }

  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  /**
   * Reconcile mode: a filtering source read up to `id`, leaving out entries the tracker skips anyway (see
   * LifecycleSource.subscribe). Like a skipped event, that may move the checkpoint; with nothing to write for
   * a while it is saved now and then, so a restart does not re-read what was already judged.
   */
  private onScanned(state: QueueState, id: string): void {
    state.lastId = id;
    if (state.deferred.length || state.incoming.length || state.pending.size || state.flushing) return;
    state.pendingUpTo = id;
    if (Date.now() - state.checkpointAt < Math.max(1000, this.checkpointEveryMs)) return;
    state.checkpointAt = Date.now();
    this.opts.source
      .saveCheckpoint(state.queue, id)
      .catch((err) => this.opts.logger.warn({ err, queue: state.queue }, 'tracker_checkpoint_failed'));
  }

  /**
   * Covers the recording gaps (dead workers, dropped spans): reads each gap's ends from BullMQ's finished
   * sets, looks them up in the store (one read per 5,000) and records, from the job hashes, the ones the
   * store does not show finished. A gap is forgotten only once all its queues were covered.
   */
  sweep(gaps: GapSource): Promise<void> {
    this.sweeping ??= this.sweepOnce(gaps).finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(gaps: GapSource): Promise<void> {
    if (this.stopped || !this.opts.source.endsBy || !this.opts.lookup) return;
    try {
      for (const gap of await gaps.gaps()) {
        for (const queue of gap.queues) {
          const state = this.states.get(queue);
          if (!state || this.stopped) continue;
          const ends = await this.opts.source.endsBy(queue, gap.worker, gap.fromMs, gap.toMs);
          const all = [
            ...ends.completed.map((id) => ['completed', id] as const),
            ...ends.failed.map((id) => ['failed', id] as const),
          ];
          let n = 0;
          for (let i = 0; i < all.length; i += 5000) {
            const chunk = all.slice(i, i + 5000);
            const statuses = await this.opts.lookup(chunk.map(([, id]) => id));
            const fold: LifecycleEvent[] = [];
            for (const [event, jobId] of chunk) {
              const status = statuses.get(jobId);
              if (status && FINISHED.has(status)) continue;
              const ev: LifecycleEvent & { confirmed?: true } = {
                queue,
                id: `${ends.now}-${n++}`,
                event,
                jobId,
                args: { jobId },
                confirmed: true,
              };
              fold.push(ev);
            }
            if (fold.length) {
              this.reconciled += fold.length;
              state.incoming.push(...fold);
              await this.flush(state);
              if (state.pending.size) throw new Error('run store unavailable');
            }
          }
        }
        if (this.stopped) return;
        await gaps.covered(gap);
        this.opts.logger.info(
          { worker: gap.worker, from: new Date(gap.fromMs).toISOString(), queues: gap.queues },
          'reconciler_gap_covered',
        );
      }
    } catch (err) {
      this.opts.logger.warn({ err }, 'reconciler_sweep_failed');
    }
  }

  /** Stops reading and writes what is buffered (one last attempt). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping;
    for (const s of this.states.values()) {
      if (s.retryTimer) clearTimeout(s.retryTimer);
      if (s.deferTimer) clearTimeout(s.deferTimer);
      if (s.scheduled) clearTimeout(s.scheduled);
      s.retryTimer = s.deferTimer = s.scheduled = null;
      await s.sub?.close();
    }
    // A write or check still in flight finishes before the last write (and before the caller closes the
    // connections they use); the last write then takes whatever they left.
    for (const s of this.states.values()) await s.checking;
    for (const s of this.states.values()) {
      await this.flush(s, true).catch((err: unknown) =>
        this.opts.logger.warn(
          { err, queue: s.queue, buffered: s.pending.size },
          'tracker_final_write_failed',
        ),
      );
    }
  }

  /**
   * Registers a listener for stored updates. Listeners run after the write, must be fast and must not
   * throw (a throwing listener is logged and ignored).
   */
  onApplied(listener: AppliedListener): void {
    this.listeners.push(listener);
  }

  /** Resolves when every received event is stored (tests and graceful shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Run updates dropped since start because the buffer was full during a store outage (for metrics). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Number of runs whose updates wait for the store. */
  bufferedRuns(): number {
    let n = 0;
    for (const s of this.states.values()) n += s.pending.size;
    return n;
  }

  private isIdle(): boolean {
    for (const s of this.states.values()) {
      if (s.incoming.length || s.pending.size || s.flushing || s.checking) return false;
    }
    return true;
  }

  private onEvent(state: QueueState, ev: LifecycleEvent): void {
    if (this.opts.reconcile && !this.takeNow(state, ev)) return;
    state.incoming.push(ev);
    if (!state.scheduled && !state.flushing && !state.retryTimer && !this.stopped) {
      state.scheduled = setTimeout(() => {
        state.scheduled = null;
        void this.flush(state);
      }, this.windowMs);
    }
  }

  /**
   * Writes what is buffered, retrying later on failure (unless `final`). One write loop runs per queue at a
   * time: a call during one joins it, and a final call runs once more after it.
   */
  private flush(state: QueueState, final = false): Promise<void> {
    if (state.flushing) return final ? state.flushing.then(() => this.flush(state, true)) : state.flushing;
    const run = this.writeLoop(state, final).finally(() => {
      state.flushing = null;
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    });
    state.flushing = run;
    return run;
  }

  private async writeLoop(state: QueueState, final: boolean): Promise<void> {
    while (state.incoming.length || state.pending.size) {
      let updates: RunUpdate[] = [];
      let upTo: string | null = null;
      try {
        if (state.incoming.length) await this.absorb(state);
        if (!state.pending.size) continue;
        updates = [...state.pending.values()];
        upTo = state.pendingUpTo;
        await this.writer.apply(updates);
      } catch (err) {
        state.failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(state.failures, 7));
        this.opts.logger.warn(
          {
            queue: state.queue,
            err,
            buffered: state.pending.size,
            retry_in_ms: delay,
          },
          'tracker_store_write_failed',
        );
        if (!final && !this.stopped) {
          state.retryTimer = setTimeout(() => {
            state.retryTimer = null;
            void this.flush(state);
          }, delay);
        }
        return;
      }
      if (state.failures) this.opts.logger.info({ queue: state.queue }, 'tracker_store_recovered');
      state.failures = 0;
      // Only what was written leaves the buffer; updates merged in meanwhile stay.
      for (const u of updates) if (state.pending.get(u.run_id) === u) state.pending.delete(u.run_id);
      for (const listener of this.listeners) {
        try {
          listener(updates);
        } catch (err) {
          this.opts.logger.warn({ err }, 'tracker_listener_failed');
        }
      }
      // The checkpoint only moves once everything before it is stored. Under a steady stream it is saved
      // every checkpointEveryMs (a restart replays at most that much, harmlessly), and always at idle.
      const now = Date.now();
      const due = !state.incoming.length || now - state.checkpointAt >= this.checkpointEveryMs;
      if (upTo && state.pending.size === 0 && due) {
        state.checkpointAt = now;
        // The runs are stored; a checkpoint that fails only means a restart replays a little more.
        await this.saveCheckpoint(state, upTo).catch((err: unknown) =>
          this.opts.logger.warn({ err, queue: state.queue }, 'tracker_checkpoint_failed'),
        );
      }
    }
  }

  /**
   * Reconcile mode: true when the event is folded now; otherwise it is skipped (a worker reports it) or
   * deferred until its grace has passed.
   */
  private takeNow(state: QueueState, ev: LifecycleEvent): boolean {
    const prevId = state.lastId;
    state.lastId = ev.id;
    const name = ev.event;
    const deferred =
      name === 'added' ||
      name === 'failed' ||
      name === 'removed' ||
      (name === 'waiting' && ev.args.prev !== 'active');
    if (!deferred && !WORKER_REPORTED.has(name)) return true;
    // Only runs with an added check pending are remembered (and forgotten at that check): bounded.
    if (name === 'active' && state.taken.has(ev.jobId)) state.taken.set(ev.jobId, true);
    if (deferred) {
      if (name !== 'failed' && name !== 'removed') state.taken.set(ev.jobId, false);
      const due = Number(ev.id.split('-')[0]) + this.opts.reconcile!.graceMs;
      state.deferred.push({ ev, due, prevId });
      this.scheduleDeferred(state);
    } else if (!state.deferred.length && !state.incoming.length && !state.pending.size && !state.flushing) {
      // Nothing in flight: a skipped event may move the checkpoint (saved with the next write or check).
      state.pendingUpTo = ev.id;
    }
    return false;
  }

  private scheduleDeferred(state: QueueState): void {
    if (state.deferTimer || state.checking || this.stopped || !state.deferred.length) return;
    const wait = Math.max(0, state.deferred[0].due - Date.now());
    state.deferTimer = setTimeout(() => {
      state.deferTimer = null;
      state.checking = this.checkDeferred(state).finally(() => {
        state.checking = null;
        if (state.deferred.length && !this.stopped) this.scheduleDeferred(state);
        if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
      });
    }, wait);
  }

  /**
   * Looks up the runs of the deferred events whose grace has passed (one store read per batch) and folds
   * only those the workers did not record: an added run the store doesn't have, an end the store doesn't
   * show. The rest is dropped, which is the common case and costs no write.
   */
  private async checkDeferred(state: QueueState): Promise<void> {
    if (this.stopped) return;
    try {
      const now = Date.now();
      let n = 0;
      while (n < state.deferred.length && n < 5000 && state.deferred[n].due <= now) n++;
      if (!n) return;
      const batch = state.deferred.slice(0, n);
      const isEnd = (ev: LifecycleEvent) => ev.event === 'failed' || ev.event === 'removed';
      // An added run a worker already took is its worker's to record: no lookup.
      const open = batch.filter((d) => isEnd(d.ev) || !state.taken.get(d.ev.jobId));
      const ids = [...new Set(open.map((d) => d.ev.jobId))];
      const statuses = ids.length ? await this.opts.lookup!(ids) : new Map<string, string>();
      for (const d of batch) if (!isEnd(d.ev)) state.taken.delete(d.ev.jobId);
      const fold: LifecycleEvent[] = [];
      for (const { ev } of open) {
        const status = statuses.get(ev.jobId);
        // A failure the store does not show; a removal of a run the store has unfinished (a job removed
        // before it was ever a run, e.g. a scheduler's next slot, makes none); an added run it lacks.
        const folds =
          ev.event === 'failed'
            ? !status || !FINISHED.has(status)
            : ev.event === 'removed'
              ? !!status && !FINISHED.has(status)
              : !status;
        if (folds) fold.push(ev);
      }
      state.deferred.splice(0, n);
      if (fold.length) {
        this.reconciled += fold.length;
        for (const ev of fold) (ev as LifecycleEvent & { confirmed?: true }).confirmed = true;
        state.incoming.push(...fold);
        await this.flush(state);
      } else if (!state.incoming.length && !state.pending.size && !state.flushing) {
        // With nothing deferred left, every event received so far (skipped ones too) is judged.
        const upTo = !state.deferred.length && state.lastId ? state.lastId : batch[batch.length - 1].ev.id;
        await this.saveCheckpoint(state, upTo);
      }
    } catch (err) {
      this.opts.logger.warn({ queue: state.queue, err }, 'reconciler_check_failed');
    } finally {
      // After a failed lookup, try again in a second instead of at once (scheduled by the caller).
      if (state.deferred.length && state.deferred[0].due <= Date.now())
        state.deferred[0].due = Date.now() + 1000;
    }
  }

  /** Events the reconciler folded because no worker had recorded them (tests, metrics). */
  reconciled = 0;

  /**
   * Saves the checkpoint at `upTo`, or before the oldest deferred event still waiting, whichever is older:
   * a restart then replays the deferred events and checks them again.
   */
  private async saveCheckpoint(state: QueueState, upTo: string): Promise<void> {
    const head = state.deferred[0];
    const id = head ? olderId(head.prevId, upTo) : upTo;
    if (!id) return;
    state.checkpointAt = Date.now();
    await this.opts.source.saveCheckpoint(state.queue, id);
  }

  /** Turns incoming events into merged pending updates (one snapshot read for the whole batch). */
  private async absorb(state: QueueState): Promise<void> {
    const events = state.incoming.splice(0);
    const ids = [...new Set(events.filter((e) => needsSnapshot(e.event)).map((e) => e.jobId))];
    let snaps = new Map<string, JobSnapshot>();
    try {
      snaps = ids.length ? await this.opts.source.snapshots(state.queue, ids) : snaps;
    } catch (err) {
      // Redis hiccup: put the events back and let the retry path take them.
      state.incoming.unshift(...events);
      throw err;
    }
    for (const ev of events) {
      const known = state.pending.get(ev.jobId);
      const raw = eventToUpdate(
        ev,
        snaps.get(ev.jobId),
        known?.identity,
        this.opts.isRegistered,
        this.opts.searchKeysOf,
      );
      const update = raw && prepareUpdate(raw, this.opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES);
      // A deferred event folded after its check is older than what was already taken in.
      if (!(ev as LifecycleEvent & { confirmed?: true }).confirmed) state.pendingUpTo = ev.id;
      if (!update) continue;
      const prev = known?.run_id === update.run_id ? known : state.pending.get(update.run_id);
      if (prev) {
        state.pending.delete(update.run_id);
        state.pending.set(update.run_id, mergeUpdates(prev, update));
      } else {
        state.pending.set(update.run_id, update);
      }
    }
    if (state.pending.size > this.maxBuffered) {
      const drop = state.pending.size - this.maxBuffered;
      const it = state.pending.keys();
      for (let i = 0; i < drop; i++) state.pending.delete(it.next().value as string);
      this.droppedCount += drop;
      this.opts.onDropped?.(drop);
      this.opts.logger.error({ queue: state.queue, dropped: drop }, 'tracker_buffer_overflow');
    }
  }
}
