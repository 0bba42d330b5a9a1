/**
 * An error a caller can act on: a stable `code` (the API's `{"error": code}`), the HTTP status it maps to,
 * and optional extra fields for the response body.
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

export const jobNotFound = (jobId: string) => new AppError('job_not_found', 404, `no job "${jobId}"`);
export const runNotFound = (runId: string) => new AppError('run_not_found', 404, `no run "${runId}"`);
export const jobNotTriggerable = (jobId: string) =>
  new AppError('job_not_triggerable', 400, `"${jobId}" is a dynamic job and can't be run by hand`);
export const jobDisabled = (jobId: string) => new AppError('job_disabled', 409, `"${jobId}" is disabled`);
export const jobAlreadyRunning = (jobId: string, runId: string) =>
  new AppError('job_already_running', 409, `"${jobId}" is already running (run ${runId})`, { run_id: runId });
export const invalidQuery = (field: string, message: string) =>
  new AppError('invalid_query', 400, `${field}: ${message}`, { field });
export const runNotFailed = (runId: string, status: string) =>
  new AppError('run_not_failed', 409, `run "${runId}" is ${status}; only failed runs can be retried`, {
    status,
  });
export const tooManyAuthFailures = () =>
  new AppError(
    'too_many_auth_failures',
    429,
    'too many failed authentications from this address; wait a minute',
  );
export const readOnly = () =>
  new AppError(
    'read_only',
    403,
    'the dashboard is read-only (DASHBOARD_READ_ONLY=true): trigger and retry are off',
  );
export const csrfFailed = () =>
  new AppError('csrf_failed', 403, 'missing or wrong CSRF token; reload the page and try again');
export const streamUnavailable = () =>
  new AppError('stream_unavailable', 503, 'the live event stream is unavailable right now');

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
export const recordingSourceReadOnly = () =>
  new AppError('recording_source_read_only', 405, 'recording URLs come from the host application here');
