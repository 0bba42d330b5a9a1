import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { principalOf } from '../api/auth';
import { recordingSourceReadOnly } from '../api/http-errors';
import { logOncePerEpisode } from '../log-once';
import { AppError } from '../monitor/errors';
import { triggeredBy } from '../monitor/principal';
import { parseCallSid } from './call-sid';
import { pickLang } from './player/messages';
import { PLAYER_CSP, PLAYER_CSS, playerPage } from './player/page';
import { PLAYER_JS } from './player/script';
import type { RecordingService } from './recording-service';
import { serveRecording } from './serve-file';

export interface RecordingsRouterDeps {
  service: RecordingService;
  /** Where a file read that failed mid-response is logged (`recording_file_read_failed`, once per episode). */
  logger: Logger;
  /** Called with the final status of every file request (wire recording_requests_total{status} here). */
  onResponse?(status: number): void;
  /** Who is asking (recorded as the download run's user_id); default: the X-User-Id header. */
  userOf?(req: Request): string | null;
  /** How long the player page waits before showing the timeout message (default 180000 ms). */
  playerTimeoutMs?: number;
  /** LOCALE: with `he` the player speaks Hebrew unless the link asks `?lang=en`; with `en`, the browser's language decides. */
  locale?: 'en' | 'he';
}

const USER_ID = /^[\w.@:-]{1,128}$/;

function headerUser(req: Request): string | null {
  const v = req.get('x-user-id');
  return v && USER_ID.test(v) ? v : null;
}

/**
 * The guard for a page: a browser that brings no credentials (no session, no Authorization header) is sent to
 * the dashboard's sign-in form and back to this page; API clients (not asking for HTML) still get the 401.
 */
function signInFirst(guard: RequestHandler): RequestHandler {
  return (req, res, next) =>
    guard(req, res, (err?: unknown) => {
      const browser = !req.get('authorization') && req.accepts(['json', 'html']) === 'html';
      if (err instanceof AppError && err.status === 401 && browser) {
        res.redirect(303, `/jobs/monitor/login?next=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      next(err);
    });
}

/**
 * Mounts the recordings routes on the app (behind `guard`: bearer token or dashboard session):
 * `PUT /api/recordings/{call_sid}`, `GET /api/recordings/file/{call_sid}` and the player page
 * `/recordings/player?call_sid=` (its script and styles are public static files).
 */
export function recordingsMount(deps: RecordingsRouterDeps) {
  const userOf = deps.userOf ?? headerUser;
  const readFailed = logOncePerEpisode(deps.logger, 'recording_file_read_failed');
  return (app: Express, guard: RequestHandler) => {
    app.put('/api/recordings/:call_sid', guard, async (req, res) => {
      const callSid = parseCallSid(req.params.call_sid);
      // A host application's read-only source: this deployment takes no URLs (405, whatever the body).
      if (!deps.service.acceptsUrls) throw recordingSourceReadOnly();
      const body = (req.body ?? {}) as { recording_url?: unknown };
      res.json(await deps.service.setUrl(callSid, body.recording_url));
    });

    const counted = (_req: Request, res: Response, next: NextFunction) => {
      if (deps.onResponse) res.on('finish', () => deps.onResponse?.(res.statusCode));
      next();
    };
    // A wildcard, so `../x`, `a%2Fb` and other multi-segment ids reach the validation (400), not a 404.
    app.get('/api/recordings/file/*call_sid', counted, guard, async (req, res) => {
      const segments = (req.params as { call_sid?: string[] | string }).call_sid;
      const callSid = parseCallSid(Array.isArray(segments) ? segments.join('/') : segments);
      // A download this poll starts is recorded as started by the caller (`api:<token>`, `dashboard:<session>`).
      const caller = principalOf(res);
      const answer = await deps.service.getFile(callSid, userOf(req), caller ? triggeredBy(caller) : null);
      if (answer.kind === 'file') {
        serveRecording(req, res, answer.file, callSid, (err) => readFailed.error(err));
        return;
      }
      const { kind: _k, ...body } = answer;
      res
        .status(202)
        .set('Retry-After', String(answer.retry_after))
        .set('Cache-Control', 'no-store')
        .json(body);
    });

    app.get('/recordings/player.js', (_req, res) => {
      res.type('application/javascript').set('Cache-Control', 'no-cache').send(PLAYER_JS);
    });
    app.get('/recordings/player.css', (_req, res) => {
      res.type('text/css').set('Cache-Control', 'no-cache').send(PLAYER_CSS);
    });
    app.get('/recordings/player', signInFirst(guard), (req, res) => {
      const callSid = parseCallSid(req.query.call_sid);
      const lang =
        deps.locale === 'he' && req.query.lang !== 'en'
          ? 'he'
          : pickLang(req.query.lang, req.get('accept-language'));
      res
        .set('Content-Security-Policy', PLAYER_CSP)
        .set('X-Content-Type-Options', 'nosniff')
        .set('Referrer-Policy', 'no-referrer')
        .set('Content-Language', lang)
        .type('html')
        .send(playerPage(callSid, lang, deps.playerTimeoutMs ?? 180_000));
    });
  };
}
