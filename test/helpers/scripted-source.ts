import type { JobSnapshot, LifecycleEvent } from '../../src/monitor/lifecycle';
import type { RunEventLog } from '../../src/monitor/run-writer';
import type { GapSource, LifecycleSource, RecordingGap, WorkerEnds } from '../../src/monitor/tracker';

/** A job hash as BullMQ holds it right after `add` (nothing run yet), with `snap` on top. */
export function jobSnapshot(
  snap: Partial<JobSnapshot> & { name: string },
  timestamp = 1_700_000_000_000,
): JobSnapshot {
  return {
    data: {},
    timestamp,
    delay: 0,
    processedOn: null,
    finishedOn: null,
    attemptsMade: 0,
    attemptsStarted: 0,
    stalls: 0,
    processedBy: null,
    failedReason: null,
    ...snap,
  };
}

/**
 * A LifecycleSource that replays scripted events instead of reading BullMQ's streams (Temporal's
 * MockNativeWorker is the model): tests drive the tracker's batching, checkpoints, backoff and buffer
 * in milliseconds, without Redis. Each queue keeps its whole event log, so a second tracker that
 * subscribes from a checkpoint gets exactly what a resumed stream read would. It is also a RunEventLog, so
 * a RunWriter's own events (`jm:failed`) reach the tracker the way they do through Redis.
 */
export class ScriptedLifecycleSource implements LifecycleSource, RunEventLog {
  /** Saved checkpoints per queue (what `loadCheckpoint` answers). */
  readonly checkpoints = new Map<string, string>();
  /** Every checkpoint save, in order. */
  readonly savedCheckpoints: { queue: string; id: string }[] = [];
  /** Every `subscribe` call, in order (queue and the id it resumed after). */
  readonly subscriptions: { queue: string; fromId: string }[] = [];
  /** Every `snapshots` call (queue and the job ids asked for). */
  readonly snapshotReads: { queue: string; jobIds: string[] }[] = [];
  /** The next N snapshot reads throw (a Redis hiccup). */
  failSnapshotReads = 0;

  private readonly log = new Map<string, LifecycleEvent[]>();
  private readonly jobs = new Map<string, JobSnapshot>();
  private readonly live = new Map<string, Set<(ev: LifecycleEvent) => void>>();
  private clock: number;
  private n = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.clock = startMs;
  }

  /** Sets (or replaces) what the job hash holds; `emit` keeps a minimal one for jobs never set. */
  setJob(queue: string, jobId: string, snap: Partial<JobSnapshot> & { name: string }): void {
    const key = `${queue}:${jobId}`;
    this.jobs.set(key, jobSnapshot({ ...this.jobs.get(key), ...snap }, this.clock));
  }

  /** Removes a job hash (BullMQ removed it); events for it then carry no snapshot. */
  dropJob(queue: string, jobId: string): void {
    this.jobs.delete(`${queue}:${jobId}`);
  }

  /** Appends one event to the queue's log (ids strictly increase) and delivers it to live subscribers. */
  emit(queue: string, event: string, jobId: string, args: Record<string, unknown> = {}): LifecycleEvent {
    this.clock += 1;
    const ev: LifecycleEvent = {
      queue,
      id: `${this.clock}-${this.n++}`,
      event,
      jobId,
      args: { jobId, ...args },
    };
    const list = this.log.get(queue) ?? [];
    list.push(ev);
    this.log.set(queue, list);
    for (const deliver of this.live.get(queue) ?? []) deliver(ev);
    return ev;
  }

  /** A whole successful run: added, active, completed (with the job hash filled in as BullMQ would). */
  runToCompletion(queue: string, jobId: string, name: string, returnvalue: unknown = null): LifecycleEvent[] {
    this.setJob(queue, jobId, { name, data: { trigger: 'manual', user_id: null } });
    const added = this.emit(queue, 'added', jobId, { name });
    this.setJob(queue, jobId, { name, processedOn: this.clock + 1, attemptsStarted: 1, processedBy: 'w:1' });
    const active = this.emit(queue, 'active', jobId, { prev: 'waiting' });
    this.setJob(queue, jobId, { name, finishedOn: this.clock + 1, attemptsMade: 1 });
    const completed = this.emit(queue, 'completed', jobId, { returnvalue });
    return [added, active, completed];
  }

  /** RunEventLog: our own events land in the same log the tracker reads, as XADD does in production. */
  async appendEvent(
    queue: string,
    event: string,
    jobId: string,
    args: Record<string, string>,
  ): Promise<string> {
    return this.emit(queue, event, jobId, args).id;
  }

  async loadCheckpoint(queue: string): Promise<string | null> {
    return this.checkpoints.get(queue) ?? null;
  }

  async saveCheckpoint(queue: string, eventId: string): Promise<void> {
    this.savedCheckpoints.push({ queue, id: eventId });
    this.checkpoints.set(queue, eventId);
  }

  async subscribe(queue: string, fromId: string, onEvent: (ev: LifecycleEvent) => void) {
    this.subscriptions.push({ queue, fromId });
    for (const ev of this.log.get(queue) ?? []) if (idAfter(ev.id, fromId)) onEvent(ev);
    const set = this.live.get(queue) ?? new Set();
    set.add(onEvent);
    this.live.set(queue, set);
    return {
      close: async () => {
        set.delete(onEvent);
      },
    };
  }

  /** The jobs `worker` ended in [fromMs, toMs] (a failed one has a failedReason), as BullMQ's finished sets say. */
  async endsBy(queue: string, worker: string, fromMs: number, toMs: number): Promise<WorkerEnds> {
    const out: WorkerEnds = { now: this.clock, completed: [], failed: [] };
    for (const [key, snap] of this.jobs) {
      if (!key.startsWith(`${queue}:`) || snap.processedBy !== worker || !snap.finishedOn) continue;
      if (snap.finishedOn < fromMs || snap.finishedOn > toMs) continue;
      (snap.failedReason ? out.failed : out.completed).push(key.slice(queue.length + 1));
    }
    return out;
  }

  async snapshots(queue: string, jobIds: string[]): Promise<Map<string, JobSnapshot>> {
    this.snapshotReads.push({ queue, jobIds });
    if (this.failSnapshotReads > 0) {
      this.failSnapshotReads--;
      throw new Error('scripted: snapshot read failed');
    }
    const out = new Map<string, JobSnapshot>();
    for (const id of jobIds) {
      const snap = this.jobs.get(`${queue}:${id}`);
      if (snap) out.set(id, structuredClone(snap));
    }
    return out;
  }
}

/** A GapSource whose gaps a test sets; `covered` ones are removed (and remembered). */
export class ScriptedGaps implements GapSource {
  readonly pending: RecordingGap[] = [];
  readonly coveredGaps: RecordingGap[] = [];
  async gaps(): Promise<RecordingGap[]> {
    return [...this.pending];
  }
  async covered(gap: RecordingGap): Promise<void> {
    const i = this.pending.indexOf(gap);
    if (i >= 0) this.pending.splice(i, 1);
    this.coveredGaps.push(gap);
  }
}

/** Stream id order (`ms-n`), as Redis compares them; '0' is before everything. */
function idAfter(id: string, from: string): boolean {
  const [a, b = 0] = id.split('-').map(Number);
  const [c, d = 0] = from.split('-').map(Number);
  return a > c || (a === c && b > d);
}
