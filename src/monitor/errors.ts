/**
 * An error a caller can act on: a stable `code` (the API's `{"error": code}`), the HTTP status it maps to,
 * and optional extra fields for the response body. The subject of a refusal travels in `extra` (`job_id`,
 * `run_id`, `status`), so every surface (the API body, the bot's reply) reads it from there, never from the
 * message text.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message ?? code);
    this.name = 'AppError';
  }
}

export const jobNotFound = (jobId: string) =>
  new AppError('job_not_found', 404, `no job "${jobId}"`, { job_id: jobId });
export const runNotFound = (runId: string) =>
  new AppError('run_not_found', 404, `no run "${runId}"`, { run_id: runId });
export const jobNotTriggerable = (jobId: string) =>
  new AppError('job_not_triggerable', 400, `"${jobId}" is a dynamic job and can't be run by hand`, {
    job_id: jobId,
  });
export const jobDisabled = (jobId: string) =>
  new AppError('job_disabled', 409, `"${jobId}" is disabled`, { job_id: jobId });
/** 409: `run_id` is the run already active (the one to watch instead). */
export const jobAlreadyRunning = (jobId: string, runId: string) =>
  new AppError('job_already_running', 409, `"${jobId}" is already running (run ${runId})`, {
    job_id: jobId,
    run_id: runId,
  });
export const invalidQuery = (field: string, message: string) =>
  new AppError('invalid_query', 400, `${field}: ${message}`, { field });
export const runNotFailed = (runId: string, status: string) =>
  new AppError('run_not_failed', 409, `run "${runId}" is ${status}; only failed runs can be retried`, {
    run_id: runId,
    status,
  });

/**
 * 409: the run was already retried once (`run_id` names that retry); retry the new run if it failed too.
 * `run_id` is null while the first retry is still being set up.
 */
export const runAlreadyRetried = (runId: string, retriedBy: string | null) =>
  new AppError(
    'run_already_retried',
    409,
    retriedBy
      ? `run "${runId}" was already retried by run "${retriedBy}"; retry that run if it failed too`
      : `run "${runId}" is being retried right now`,
    { run_id: retriedBy },
  );

/** 409: the job is paused by an operator (resume it first). */
export const jobPaused = (jobId: string, by: string) =>
  new AppError('job_paused', 409, `"${jobId}" is paused (by ${by}); resume it first`, {
    job_id: jobId,
    paused_by: by,
  });
/** 409: only pending or running runs can be cancelled. */
export const runNotActive = (runId: string, status: string) =>
  new AppError(
    'run_not_active',
    409,
    `run "${runId}" is ${status}; only pending or running runs can be cancelled`,
    { run_id: runId, status },
  );
/** 410: a dynamic run's payload lived in its BullMQ job, which is gone (removed after JOB_RETENTION_SECONDS). */
export const runPayloadGone = (runId: string) =>
  new AppError(
    'run_payload_gone',
    410,
    `run "${runId}" can't be retried: its job (and the payload it ran with) is no longer in the queue`,
    { run_id: runId },
  );

// --- recordings ---
export const invalidCallSid = () =>
  new AppError('invalid_call_sid', 400, 'call_sid must be 1-64 letters, digits, _ or -');
export const invalidRecordingUrl = () =>
  new AppError('invalid_recording_url', 400, 'recording_url must be an absolute http(s) URL');
/** 404: the call has no recording; never "soon", clients stop. */
export const recordingNotFound = () =>
  new AppError('recording_not_found', 404, 'no recording exists for this call');
/** 500: downloads for this call keep getting stuck; no new job is made until the window expires. */
export const workerNotProcessingQueue = (attempts: number) =>
  new AppError('worker_not_processing_queue', 500, 'the recording download queue is not being processed', {
    attempts,
  });
/**
 * 500: an operator paused recording_download, so no download is enqueued; clients stop (like for
 * worker_not_processing_queue) instead of polling a download that will not start.
 */
export const recordingDownloadsPaused = () =>
  new AppError(
    'recording_downloads_paused',
    500,
    'recording downloads are paused by an operator; try again later',
  );
/** 400: the recording URL may not be downloaded (scheme, credentials, a private or loopback address). */
export const recordingUrlNotAllowed = (reason: string) =>
  new AppError('recording_url_not_allowed', 400, `recording_url is not allowed: ${reason}`, { reason });
/** 500: the provider failed for good (too large, 403, 5xx after retries, address not allowed); clients stop. */
export const recordingDownloadFailed = (reason: string, detail: string) =>
  new AppError('recording_download_failed', 500, `the recording could not be downloaded: ${detail}`, {
    reason,
  });
