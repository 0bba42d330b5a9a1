import { AppError } from '../monitor/errors';

// Errors only the HTTP edge knows: refusals of a request's form (auth throttling, CSRF, read-only mode,
// the live stream, a method the deployment doesn't offer), not outcomes of the domain.

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
    'read-only deployment (DASHBOARD_READ_ONLY=true): every action is off (trigger, retry, cancel, pause, resume, bulk, logout-all)',
  );
export const csrfFailed = () =>
  new AppError('csrf_failed', 403, 'missing or wrong CSRF token; reload the page and try again');
export const streamUnavailable = () =>
  new AppError('stream_unavailable', 503, 'the live event stream is unavailable right now');
export const recordingSourceReadOnly = () =>
  new AppError('recording_source_read_only', 405, 'recording URLs come from the host application here');
