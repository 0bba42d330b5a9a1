import type { EventFields } from './events';
import type { RunUpdate } from './run';

/** An event to emit once per `key` (see EventBus.emitOnce). */
export interface OnceEvent {
  key: string;
  name: 'job_failed';
  fields: EventFields;
}

/**
 * The `job_failed` events in a batch of stored run updates: a run whose status became `failed`, which only
 * happens after its last attempt (retries go back to pending). Keyed by run_id so two trackers seeing the
 * same update, or a tracker replaying its stream after a restart, emit it once. Pure.
 */
export function failureEvents(updates: readonly RunUpdate[]): OnceEvent[] {
  return updates
    .filter((u) => u.patch.status === 'failed')
    .map((u) => ({
      key: `failed:${u.run_id}`,
      name: 'job_failed' as const,
      fields: {
        job_id: u.identity.job_id,
        run_id: u.run_id,
        queue: u.identity.queue,
        error: u.patch.error_message ?? 'failed',
        attempts: u.patch.attempts ?? undefined,
      },
    }));
}
