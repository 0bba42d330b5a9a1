import type { JobDefinition } from './registry';

/**
 * Whether a job's runs may overlap when its jobs.yml entry does not say: a static job's may not (a scheduled
 * job must not pile up on itself), a dynamic job's may (user actions are independent of each other).
 */
export function defaultAllowConcurrent(kind: 'static' | 'dynamic'): boolean {
  return kind === 'dynamic';
}

/**
 * The one concurrency rule: the key under which a job's runs exclude each other, or null when they may
 * overlap (`allow_concurrent: true`). Every place that enforces it asks this function:
 * - JobsService refuses a trigger while a run is active and enqueues with this key as BullMQ's
 *   deduplication id (a second enqueue returns the run already waiting or running);
 * - WorkerPool takes a fleet-wide lock at run time, so a run that slipped past (a scheduler tick, a
 *   retry) ends `skipped` instead of overlapping.
 */
export function exclusiveKey(def: Pick<JobDefinition, 'job_id' | 'allow_concurrent'>): string | null {
  return def.allow_concurrent ? null : `job:${def.job_id}`;
}
