import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { JobsService } from '../monitor/jobs-service';
import { registryStuckPolicy, thresholdMs } from '../monitor/stuck-rules';
import { AddressPolicy } from './address-policy';
import { RecordingFiles } from './file-store';
import type { RecordingProcessorDeps } from './processors';
import { DOWNLOAD_JOB_ID, RecordingService } from './recording-service';
import { RecordingState } from './recording-state';
import { RedisRecordingSource, type RecordingSource } from './recording-source';
import { type RecordingsRouterDeps, recordingsMount } from './routes';

export { waitForRecording } from './client';
export type { RecordingSource } from './recording-source';

export interface RecordingsOptions {
  /** A host application's lookup of recording URLs; default: the Redis store fed by the PUT endpoint. */
  source?: RecordingSource;
  /** Metrics hook: the final status of every file request. */
  onResponse?: RecordingsRouterDeps['onResponse'];
  now?: () => number;
}

/** Everything the recordings feature adds to a system: its service, its API mount and its processors. */
export interface Recordings {
  service: RecordingService;
  files: RecordingFiles;
  mount: ReturnType<typeof recordingsMount>;
  /** What the recordings processors need (buildProcessors registers them). */
  processorDeps: RecordingProcessorDeps;
}

/** Builds the recordings feature from the config (called by the composition root, src/system.ts). */
export function createRecordings(
  config: Config,
  deps: { redis: Redis; jobs: JobsService; logger: Logger },
  opts: RecordingsOptions = {},
): Recordings {
  const files = new RecordingFiles(config.RECORDINGS_DIR);
  const addresses = new AddressPolicy(config.RECORDING_ALLOWED_HOSTS);
  const state = new RecordingState(
    deps.redis,
    config.QUEUE_PREFIX,
    config.RECORDING_RETRY_WINDOW_SECONDS,
    config.RECORDING_MAX_RETRY_ATTEMPTS,
  );
  const source = opts.source ?? new RedisRecordingSource(deps.redis, config.QUEUE_PREFIX);
  const logger = deps.logger.child({ component: 'recordings' });
  const service = new RecordingService(
    deps.jobs,
    source,
    state,
    files,
    {
      // The one stuck definition, with recording_download's own threshold from the registry.
      timeoutSeconds:
        thresholdMs(
          registryStuckPolicy(deps.jobs.registry, config.JOBS_STUCK_THRESHOLD_MINUTES),
          DOWNLOAD_JOB_ID,
        ) / 1000,
      maxAttempts: config.RECORDING_MAX_RETRY_ATTEMPTS,
      retryAfterSeconds: config.RECORDING_RETRY_AFTER_SECONDS,
      recoveryRetryAfterSeconds: config.RECORDING_RECOVERY_RETRY_AFTER_SECONDS,
      addresses,
      now: opts.now,
    },
    logger,
  );
  // An operator's retry of a failed download resets the call's retry window (see retryDownload).
  deps.jobs.setRetryHandler?.(DOWNLOAD_JOB_ID, (run, by) => service.retryDownload(run, by));
  const processorDeps: RecordingProcessorDeps = {
    files,
    state,
    limits: {
      connectTimeoutMs: config.RECORDING_CONNECT_TIMEOUT_MS,
      readTimeoutMs: config.RECORDING_READ_TIMEOUT_MS,
      maxBytes: config.RECORDING_MAX_BYTES,
      deadlineMs: config.RECORDING_DOWNLOAD_TIMEOUT_SECONDS * 1000,
      addresses,
    },
    currentUrl: (callSid) => source.getRecordingUrl(callSid),
    retentionMs: config.RECORDINGS_RETENTION_DAYS * 24 * 3600_000,
    cleanupStuck: () => service.cleanupStuckRecordingJobs(),
    now: opts.now,
  };
  return {
    service,
    files,
    mount: recordingsMount({ service, logger, onResponse: opts.onResponse, locale: config.LOCALE }),
    processorDeps,
  };
}
