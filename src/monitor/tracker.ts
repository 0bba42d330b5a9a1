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
  /** Starts delivering a queue's events after `fromId`, in order. */
  subscribe(
    queue: string,
    fromId: string,
    onEvent: (ev: LifecycleEvent) => void,
  ): Promise<{ close(): Promise<void> }>;
  /** Reads the jobs' hashes in one round trip; missing jobs are absent from the map. */
  snapshots(queue: string, jobIds: string[]): Promise<Map<string, JobSnapshot>>;
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
  reconcile?: { graceMs: number };
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

const WORKER_REPORTED = new Set(['active', 'progress', LOG_EVENT]);
const FINISHED = new Set<string>(FINISHED_STATUSES);

interface QueueState {
  queue: string;
  incoming: LifecycleEvent[];
  /** Updates not yet stored, merged per run, in arrival order. */
  pending: Map<string, RunUpdate>;
  /** Last event id included in `pending` (checkpoint once they are stored). */
  pendingUpTo: string | null;
  flushing: boolean;
  scheduled: boolean;
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
  checking: boolean;
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
        flushing: false,
        scheduled: false,
        failures: 0,
        retryTimer: null,
        sub: null,
        checkpointAt: 0,
        deferred: [],
        lastId: null,
        deferTimer: null,
        checking: false,
        taken: new Map(),
      };
      this.states.set(queue, state);
      const from = (await this.opts.source.loadCheckpoint(queue)) ?? '0';
      this.opts.logger.info({ queue, from }, 'tracker_resume');
      state.sub = await this.opts.source.subscribe(queue, from, (ev) => this.onEvent(state, ev));
    }
  }

  /** Stops reading and writes what is buffered (one last attempt). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.states.values()) {
      if (s.retryTimer) clearTimeout(s.retryTimer);
      if (s.deferTimer) clearTimeout(s.deferTimer);
      await s.sub?.close();
    }
    for (const s of this.states.values()) await this.flush(s, true).catch(() => undefined);
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
    if (!state.scheduled && !state.flushing && !state.retryTimer) {
      state.scheduled = true;
      setTimeout(() => {
        state.scheduled = false;
        void this.flush(state);
      }, this.windowMs);
    }
  }

  private async flush(state: QueueState, final = false): Promise<void> {
    if (state.flushing) return;
    state.flushing = true;
    try {
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
          await this.saveCheckpoint(state, upTo);
        }
      }
    } finally {
      state.flushing = false;
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
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
      name === 'completed' ||
      name === 'failed' ||
      (name === 'waiting' && ev.args.prev !== 'active');
    if (!deferred && !WORKER_REPORTED.has(name)) return true;
    // Only runs with an added check pending are remembered (and forgotten at that check): bounded.
    if (name === 'active' && state.taken.has(ev.jobId)) state.taken.set(ev.jobId, true);
    if (deferred) {
      if (!(name === 'completed' || name === 'failed')) state.taken.set(ev.jobId, false);
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
      void this.checkDeferred(state);
    }, wait);
  }

  /**
   * Looks up the runs of the deferred events whose grace has passed (one store read per batch) and folds
   * only those the workers did not record: an added run the store doesn't have, an end the store doesn't
   * show. The rest is dropped, which is the common case and costs no write.
   */
  private async checkDeferred(state: QueueState): Promise<void> {
    if (state.checking || this.stopped) return;
    state.checking = true;
    try {
      const now = Date.now();
      let n = 0;
      while (n < state.deferred.length && n < 5000 && state.deferred[n].due <= now) n++;
      if (!n) return;
      const batch = state.deferred.slice(0, n);
      const isEnd = (ev: LifecycleEvent) => ev.event === 'completed' || ev.event === 'failed';
      // An added run a worker already took is its worker's to record: no lookup.
      const open = batch.filter((d) => isEnd(d.ev) || !state.taken.get(d.ev.jobId));
      const ids = [...new Set(open.map((d) => d.ev.jobId))];
      const statuses = ids.length ? await this.opts.lookup!(ids) : new Map<string, string>();
      for (const d of batch) if (!isEnd(d.ev)) state.taken.delete(d.ev.jobId);
      const fold: LifecycleEvent[] = [];
      for (const { ev } of open) {
        const status = statuses.get(ev.jobId);
        const missing = isEnd(ev) ? !status || !FINISHED.has(status) : !status;
        if (missing) fold.push(ev);
      }
      state.deferred.splice(0, n);
      if (fold.length) {
        this.reconciled += fold.length;
        for (const ev of fold) (ev as LifecycleEvent & { confirmed?: true }).confirmed = true;
        state.incoming.push(...fold);
        await this.flush(state);
      } else if (!state.incoming.length && !state.pending.size && !state.flushing) {
        await this.saveCheckpoint(state, batch[batch.length - 1].ev.id);
      }
    } catch (err) {
      this.opts.logger.warn({ queue: state.queue, err }, 'reconciler_check_failed');
    } finally {
      state.checking = false;
      if (state.deferred.length && !this.stopped) {
        // After a failed lookup, try again in a second instead of at once.
        if (state.deferred[0].due <= Date.now()) state.deferred[0].due = Date.now() + 1000;
        this.scheduleDeferred(state);
      }
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
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
