import {
  enqueuedUpdate,
  eventToUpdate,
  type LifecycleEvent,
  MARK_CANCELLED_EVENT,
  MARK_FAILED_EVENT,
} from './lifecycle';
import { type JobRun, marksUpdate, type RunIdentity, type RunMarks, type RunUpdate } from './run';
import type { RunStore } from './run-store';

/**
 * Appends one of our own lifecycle events to a queue's events stream (BullMQ's, in production: the same
 * stream the tracker reads) and returns the stream id Redis gave it.
 */
export interface RunEventLog {
  appendEvent(queue: string, event: string, jobId: string, args: Record<string, string>): Promise<string>;
}

/**
 * The one path that writes run state. Every write is a run update stored by the store's
 * {@link applyRunUpdate} rules:
 * - the tracker folds the events it reads from the streams ({@link eventToUpdate}) and stores them with
 *   {@link apply}; so does each worker's RunRecorder with the updates of the runs it executes;
 * - a run just enqueued is stored at once as pending with {@link recordEnqueued} (seq '', so it only
 *   creates the run and every real event wins);
 * - a policy that gives up on a run ({@link markFailed}) appends a `jm:failed` event to the run's queue
 *   stream, so it gets a real stream id (Redis time, ordered with BullMQ's own events), and applies that
 *   same event at once so the caller reads its own write. The tracker folds the event again later,
 *   which changes nothing (same seq).
 *
 * Every seq is on Redis' clock, none on a machine's own: a stream id Redis gave (the tracker's events,
 * `jm:failed`, `jm:cancelled`), a RedisClock stamp (src/queues/redis-clock.ts: the worker's RunRecorder), or
 * '' (the pending write; {@link mark} never moves a seq).
 *
 * Nothing else calls `RunStore.apply`.
 */
export class RunWriter {
  constructor(
    private readonly store: Pick<RunStore, 'apply'>,
    private readonly events?: RunEventLog,
  ) {}

  /** Stores folded updates (the tracker's and each RunRecorder's batches). */
  apply(updates: RunUpdate[]): Promise<void> {
    return this.store.apply(updates);
  }

  /** Stores a just-enqueued run as pending, unless the store already has it. */
  recordEnqueued(runId: string, identity: RunIdentity): Promise<void> {
    return this.store.apply([enqueuedUpdate(runId, identity)]);
  }

  /**
   * Annotates a run with marks (stuck flags, `retried_by`): seq-independent, so they never undo or get
   * undone by lifecycle events (see {@link marksUpdate}). @throws when the store can't be written.
   */
  mark(
    run: Pick<JobRun, 'run_id' | 'job_id' | 'queue' | 'created_at' | 'trigger' | 'user_id'>,
    marks: RunMarks,
  ): Promise<void> {
    return this.store.apply([marksUpdate(run, marks)]);
  }

  /**
   * Ends a run as failed with a reason. A later event of the same run (a worker that finally takes it)
   * still wins, because its stream id is newer. @throws when the stream or the store can't be written.
   */
  markFailed(run: JobRun, reason: string): Promise<void> {
    return this.markEnded(run, MARK_FAILED_EVENT, reason);
  }

  /**
   * Ends a run as `cancelled` (an operator cancelled it before a worker took it; its BullMQ job was removed
   * first) with a `jm:cancelled` event, the same way as {@link markFailed}.
   */
  markCancelled(run: JobRun, reason: string): Promise<void> {
    return this.markEnded(run, MARK_CANCELLED_EVENT, reason);
  }

  private async markEnded(run: JobRun, event: string, reason: string): Promise<void> {
    if (!this.events) throw new Error(`RunWriter needs an event log to write ${event}`);
    const args = { name: run.job_id, reason };
    const id = await this.events.appendEvent(run.queue, event, run.run_id, args);
    const ev: LifecycleEvent = {
      queue: run.queue,
      id,
      event,
      jobId: run.run_id,
      args: { jobId: run.run_id, ...args },
    };
    const identity: RunIdentity = {
      job_id: run.job_id,
      queue: run.queue,
      created_at: run.created_at,
      trigger: run.trigger,
      user_id: run.user_id,
    };
    const update = eventToUpdate(ev, undefined, identity);
    if (update) await this.store.apply([update]);
  }
}
