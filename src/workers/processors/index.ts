import type { QueueSet } from '../../queues/queue-set';
import type { Processor } from '../processor-context';
import { cacheWarming } from './cache-warming';
import { queueCleanup } from './queue-cleanup';
import { type RecordingProcessorDeps, recordingProcessors } from '../../recordings/processors';

export interface ProcessorDeps {
  queues: QueueSet;
  retentionSeconds: number;
  /** recording_download, recordings_stuck_cleanup, recordings_retention (src/recordings). */
  recordings?: RecordingProcessorDeps;
}

/**
 * Every processor this system ships, by the `callback_name` jobs.yml uses. To add a job: write a
 * processor file in this folder, register it here, and add its entry to config/jobs.yml.
 */
export function buildProcessors(deps: ProcessorDeps): Record<string, Processor<never>> {
  return {
    cacheWarming: cacheWarming as Processor<never>,
    queueCleanup: queueCleanup(deps.queues, deps.retentionSeconds),
    ...(deps.recordings ? recordingProcessors(deps.recordings) : {}),
  };
}
