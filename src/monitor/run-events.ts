import type { Logger } from 'pino';
import { type EpisodeLog, logOncePerEpisode } from '../log-once';
import { FINISHED_STATUSES, type JobRun, type RunLog, type RunUpdate } from './run';

/** Kinds of live run change the dashboard stream carries. */
export type RunEventType = 'created' | 'progress' | 'log' | 'finished';
export const RUN_EVENT_TYPES: readonly RunEventType[] = ['created', 'progress', 'log', 'finished'];

/** One change of one run, as sent on `GET /api/jobs/stream`. */
export interface RunEvent {
  type: RunEventType;
  run_id: string;
  /** null when the event that carried the change did not name the job (progress and log events). */
  job_id: string | null;
  /** Fields that changed (status, progress, processed_items, total_items, started_at, error_message, ...). */
  run: Partial<JobRun>;
  /** New log lines (only for `log`). */
  logs?: Omit<RunLog, 'seq'>[];
}

/** The job id the tracker uses when an event did not say which job it belongs to. */
const UNKNOWN_JOB = 'unknown';
const FINISHED = new Set<string>(FINISHED_STATUSES);

/**
 * Turns a batch of stored run updates into stream events (pure). One update may give several events
 * (a batch can hold a run's first sight, its progress, its logs and its end); updates that change nothing a
 * viewer sees (e.g. only `attempts`) give none.
 */
export function updatesToEvents(updates: readonly RunUpdate[]): RunEvent[] {
  const out: RunEvent[] = [];
  for (const u of updates) {
    const p = u.patch;
    // Progress and log events carry no job snapshot, so their identity is a placeholder: leave it out.
    const known = u.identity.job_id !== UNKNOWN_JOB;
    const base = { run_id: u.run_id, job_id: known ? u.identity.job_id : null };
    const identity: Partial<JobRun> = known
      ? {
          job_id: u.identity.job_id,
          queue: u.identity.queue,
          created_at: u.identity.created_at,
          trigger: u.identity.trigger,
          user_id: u.identity.user_id,
        }
      : {};
    if (p.status === 'pending' || (u.seq === '' && !p.status)) {
      out.push({ type: 'created', ...base, run: { ...identity, status: 'pending' } });
    }
    const progressed =
      p.status === 'running' ||
      p.progress !== undefined ||
      p.processed_items !== undefined ||
      p.total_items !== undefined;
    if (progressed && !(p.status && FINISHED.has(p.status))) {
      out.push({ type: 'progress', ...base, run: { ...identity, ...pick(p) } });
    }
    if (u.logs.length) {
      out.push({
        type: 'log',
        ...base,
        run: {},
        logs: u.logs.map(({ time, level, message }) => ({ time, level, message })),
      });
    }
    if (p.status && FINISHED.has(p.status)) {
      out.push({ type: 'finished', ...base, run: { ...identity, ...pick(p) } });
    }
  }
  return out;
}

function pick(p: RunUpdate['patch']): Partial<JobRun> {
  const run: Partial<JobRun> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v !== undefined && k !== 'result') (run as Record<string, unknown>)[k] = v;
  }
  return run;
}

/** Carries run events between processes (Redis pub/sub in production, see src/queues/redis-run-events.ts). */
export interface RunEventBus {
  publish(events: readonly RunEvent[]): Promise<void>;
  /**
   * False when no process has a live-stream client (as last checked): publishers then skip building
   * events at all. Buses without the notion always answer true.
   */
  wanted?(): boolean;
  /** Starts delivering every event any process publishes; resolves once subscribed. */
  subscribe(onEvents: (events: RunEvent[]) => void): Promise<{ close(): Promise<void> }>;
}

const IDLE_UNSUBSCRIBE_MS = 30_000;

/** A listener of the hub; must be fast and must not throw. */
export type RunEventListener = (event: RunEvent) => void;

/**
 * Fans one bus subscription out to many local listeners (SSE connections), subscribing to the bus on the
 * first listener and staying subscribed until {@link close}.
 */
export class RunEventHub {
  private readonly listeners = new Set<RunEventListener>();
  private readonly enders = new Map<RunEventListener, () => void>();
  private sub: Promise<{ close(): Promise<void> }> | null = null;
  private readonly subscribeFailed: EpisodeLog;
  private readonly unsubscribeFailed: EpisodeLog;

  /** `logger` gets the bus's subscribe and unsubscribe failures, once per episode. */
  constructor(
    private readonly bus: RunEventBus,
    logger: Logger,
  ) {
    this.subscribeFailed = logOncePerEpisode(logger, 'run_events_subscribe_failed');
    this.unsubscribeFailed = logOncePerEpisode(logger, 'run_events_unsubscribe_failed');
  }

  /**
   * Adds a listener; resolves (with the function that removes it) once the bus delivers to it.
   * `onEnd` is called if the hub closes first (server shutdown), so open streams can end.
   */
  async listen(listener: RunEventListener, onEnd?: () => void): Promise<() => void> {
    this.listeners.add(listener);
    if (onEnd) this.enders.set(listener, onEnd);
    try {
      this.sub ??= this.bus.subscribe((events) => this.dispatch(events));
      await this.sub;
      this.subscribeFailed.recovered();
    } catch (err) {
      this.subscribeFailed.error(err);
      this.listeners.delete(listener);
      this.enders.delete(listener);
      this.sub = null;
      throw err;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return () => {
      this.listeners.delete(listener);
      this.enders.delete(listener);
      if (this.listeners.size === 0) this.closeWhenIdle();
    };
  }

  private idleTimer: NodeJS.Timeout | null = null;

  /**
   * With no listener left for 30 s, the hub leaves the bus, so publishers see nobody listening and stop
   * building live events (they cost every writer CPU for nothing).
   */
  private closeWhenIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.listeners.size || !this.sub) return;
      const sub = this.sub;
      this.sub = null;
      void this.leave(sub);
    }, IDLE_UNSUBSCRIBE_MS);
    this.idleTimer.unref?.();
  }

  /**
   * Closes a subscription; never rejects. A failed close is logged; a subscription that failed to open
   * is not: {@link listen} logged it and rejected its callers with it.
   */
  private async leave(sub: Promise<{ close(): Promise<void> }>): Promise<void> {
    let s: { close(): Promise<void> };
    try {
      s = await sub;
    } catch {
      return;
    }
    try {
      await s.close();
    } catch (err) {
      this.unsubscribeFailed.error(err);
    }
  }

  /** Number of local listeners (open streams). */
  size(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const enders = [...this.enders.values()];
    this.listeners.clear();
    this.enders.clear();
    for (const end of enders) end();
    const sub = this.sub;
    this.sub = null;
    // A subscription still waiting for Redis (an outage) must not hold up shutdown: give it a second.
    if (sub) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.leave(sub), new Promise((r) => (t = setTimeout(r, 1000)))]);
      clearTimeout(t);
    }
  }

  private dispatch(events: RunEvent[]): void {
    for (const ev of events) {
      for (const l of this.listeners) {
        try {
          l(ev);
        } catch {
          // A broken connection must not stop the others.
        }
      }
    }
  }
}

/** Something that reports stored run updates (the Tracker). */
export interface AppliedSource {
  onApplied(listener: (updates: readonly RunUpdate[]) => void): void;
}

/**
 * Publishes every batch a tracker stores as run events on the bus (fire and forget: a bus outage costs
 * live updates, never tracking). `onError` hears publish failures.
 */
export function publishRunEvents(
  tracker: AppliedSource,
  bus: RunEventBus,
  onError: (err: Error) => void,
): void {
  tracker.onApplied((updates) => {
    if (bus.wanted && !bus.wanted()) return;
    const events = updatesToEvents(updates);
    if (events.length) bus.publish(events).catch(onError);
  });
}
