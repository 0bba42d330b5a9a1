import { AppError } from '../monitor/errors';
import type { AccessRole } from '../monitor/principal';

// Errors only the HTTP edge knows: refusals of a request's form (authentication and its throttling, roles,
// CSRF, read-only mode, the live stream, a route or method the deployment doesn't offer), not outcomes of the
// domain. Every route, guard and mount of the API, the dashboard and Bull Board builds its refusals here.

/** 401: no credentials; `how` says what to send (a bearer token, or a dashboard sign-in). */
export const unauthorized = (how = 'send Authorization: Bearer <token>') =>
  new AppError('unauthorized', 401, how);
/** 401 for the dashboard's own routes and Bull Board: no session. */
export const signInRequired = () => unauthorized('sign in at /jobs/monitor');
/** 403: a token was sent and it is not one of ours. */
export const wrongToken = () => new AppError('forbidden', 403, 'wrong token');
/** 403 `forbidden_role`: the caller's role is below what the action needs. */
export const forbiddenRole = (need: AccessRole, role: AccessRole) =>
  new AppError('forbidden_role', 403, `this action needs the ${need} role; your token has ${role}`, {
    required_role: need,
    role,
  });
/** 404 for a path no route serves. */
export const routeNotFound = () => new AppError('not_found', 404, 'no such route');
/** 429 from the dashboard's sign-in form. */
export const tooManyLoginAttempts = () =>
  new AppError('too_many_requests', 429, 'too many login attempts; wait a few minutes');
/** 403: Bull Board's add / edit routes are turned off (they would bypass validation and the audit log). */
export const bullBoardForbidden = () =>
  new AppError(
    'bull_board_forbidden',
    403,
    'adding, running or editing jobs and schedules from Bull Board is turned off; trigger, pause and resume jobs through /api/jobs or the dashboard',
  );

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
