import type { QueueSet } from '../../queues/queue-set';
import { type RecordingProcessorDeps, recordingProcessors } from '../../recordings/processors';
import type { Processor } from '../processor-context';
import { cacheWarming } from './cache-warming';
import { queueCleanup } from './queue-cleanup';

export interface ProcessorDeps {
  queues: QueueSet;
  retentionSeconds: number;
  /** recording_download, recordings_stuck_cleanup, recordings_retention (src/recordings). */
  recordings?: RecordingProcessorDeps;
}

/** Builds one processor from the system's parts. */
type ProcessorFactory = (deps: ProcessorDeps) => Processor<never> | undefined;

/** A processor of src/recordings (absent when the recordings deps are not given). */
const recording =
  (name: keyof ReturnType<typeof recordingProcessors>): ProcessorFactory =>
  (d) =>
    d.recordings ? recordingProcessors(d.recordings)[name] : undefined;

/**
 * Every processor this system ships, by the `callback_name` jobs.yml uses. To add a job: write a
 * processor file in this folder, add one entry here, and add its entry to config/jobs.yml. A worker process
 * refuses to start (naming the file and the job) when jobs.yml names a processor neither here nor in
 * `StartOptions.processors`.
 */
export const PROCESSORS: Readonly<Record<string, ProcessorFactory>> = {
  cacheWarming: () => cacheWarming as Processor<never>,
  queueCleanup: (d) => queueCleanup(d.queues, d.retentionSeconds),
  recordingDownload: recording('recordingDownload'),
  recordingsStuckCleanup: recording('recordingsStuckCleanup'),
  recordingsRetention: recording('recordingsRetention'),
};

/** The processors of {@link PROCESSORS}, built. */
export function buildProcessors(deps: ProcessorDeps): Record<string, Processor<never>> {
  const out: Record<string, Processor<never>> = {};
  for (const [name, make] of Object.entries(PROCESSORS)) {
    const p = make(deps);
    if (p) out[name] = p;
  }
  return out;
}
