import type { Logger } from 'pino';
import { eventToUpdate, type JobSnapshot, type LifecycleEvent, needsSnapshot } from './lifecycle';
import { mergeUpdates, type RunUpdate } from './run';
import type { RunStore } from './run-store';

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
}

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

  constructor(private readonly opts: TrackerOptions) {
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
      if (s.incoming.length || s.pending.size || s.flushing) return false;
    }
    return true;
  }

  private onEvent(state: QueueState, ev: LifecycleEvent): void {
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
          await this.opts.store.apply(updates);
        } catch (err) {
          state.failures++;
          const delay = Math.min(30_000, 250 * 2 ** Math.min(state.failures, 7));
          this.opts.logger.warn(
            {
              queue: state.queue,
              err: (err as Error).message,
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
            this.opts.logger.warn({ err: (err as Error).message }, 'tracker_listener_failed');
          }
        }
        // The checkpoint only moves once everything before it is stored. Under a steady stream it is saved
        // every checkpointEveryMs (a restart replays at most that much, harmlessly), and always at idle.
        const now = Date.now();
        const due = !state.incoming.length || now - state.checkpointAt >= this.checkpointEveryMs;
        if (upTo && state.pending.size === 0 && due) {
          state.checkpointAt = now;
          await this.opts.source.saveCheckpoint(state.queue, upTo);
        }
      }
    } finally {
      state.flushing = false;
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    }
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
      const update = eventToUpdate(ev, snaps.get(ev.jobId), known?.identity);
      state.pendingUpTo = ev.id;
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
