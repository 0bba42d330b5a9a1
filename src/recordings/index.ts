import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { JobsService } from '../monitor/jobs-service';
import { RecordingFiles } from './file-store';
import type { RecordingProcessorDeps } from './processors';
import { RecordingService } from './recording-service';
import { RecordingState } from './recording-state';
import { RedisRecordingSource, type RecordingSource } from './recording-source';
import { type RecordingsRouterDeps, recordingsMount } from './routes';

export { waitForRecording } from './client';
export { isRunStuck } from './stuck';
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
      timeoutSeconds: config.RECORDING_JOB_TIMEOUT_SECONDS,
      maxAttempts: config.RECORDING_MAX_RETRY_ATTEMPTS,
      retryAfterSeconds: config.RECORDING_RETRY_AFTER_SECONDS,
      recoveryRetryAfterSeconds: config.RECORDING_RECOVERY_RETRY_AFTER_SECONDS,
      now: opts.now,
    },
    logger,
  );
  const processorDeps: RecordingProcessorDeps = {
    files,
    state,
    limits: {
      connectTimeoutMs: config.RECORDING_CONNECT_TIMEOUT_MS,
      readTimeoutMs: config.RECORDING_READ_TIMEOUT_MS,
      maxBytes: config.RECORDING_MAX_BYTES,
    },
    retentionMs: config.RECORDINGS_RETENTION_DAYS * 24 * 3600_000,
    cleanupStuck: () => service.cleanupStuckRecordingJobs(),
    now: opts.now,
  };
  return {
    service,
    files,
    mount: recordingsMount({ service, onResponse: opts.onResponse }),
    processorDeps,
  };
}
