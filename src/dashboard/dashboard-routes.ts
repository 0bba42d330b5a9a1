import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { type TokenCheck, TokenDirectory, tokenMatches } from '../api/auth';
import {
  csrfFailed,
  forbiddenRole,
  readOnly,
  signInRequired,
  tooManyLoginAttempts,
} from '../api/http-errors';
import type { AuditLog } from '../monitor/audit';
import { type Principal, roleAtLeast } from '../monitor/principal';
import { publicDir } from './assets';
import { dashboardPage, loginPage } from './pages';
import { readCookie, type SessionManager } from './session';

const LOGIN_COOKIE = 'jm_login';
const HOME = '/jobs/monitor';

/** A local path to return to after login (the dashboard, Bull Board or the recordings player); anything else becomes the dashboard home. */
export function safeNext(v: unknown): string {
  if (typeof v !== 'string' || v.length > 500) return HOME;
  if (!/^\/(?:jobs\/(?:monitor|queues)|recordings\/player)(?:[/?#]|$)/.test(v) || /[\\\s]/.test(v))
    return HOME;
  return v;
}

export interface DashboardRoutesOptions {
  /** DB_HEALTH_TOKEN alone, or every named token (API_TOKENS); any of them signs in with its role. */
  token: TokenCheck;
  sessions: SessionManager;
  readOnly: boolean;
  logger: Logger;
  /** Called after each login attempt with who signed in, or null when the token was wrong (the audit log). */
  onLogin?: (req: Request, who: { name: string; role: string } | null) => void;
  /** Where logout-all (done or refused) is recorded. */
  audit?: AuditLog;
  /** Login attempts allowed per IP per 5 minutes. */
  loginLimit?: number;
  /** LOCALE of the pages (default en). */
  locale?: 'en' | 'he';
}

/**
 * `/jobs/monitor`: the login form (anonymous) or the dashboard shell (signed in), login/logout, and the
 * static files. No job data is rendered by the server; the page's script reads it from /api/jobs with the
 * session cookie.
 */
export function dashboardRouter(o: DashboardRoutesOptions): Router {
  const r = Router();
  const tokens = typeof o.token === 'string' ? new TokenDirectory(o.token) : o.token;
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  const noStore = (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  };

  r.use(
    '/static',
    express.static(publicDir(), { index: false, fallthrough: false, maxAge: '5m', immutable: false }),
  );

  /** Renders the login form with a fresh pre-login CSRF nonce (double-submit cookie). */
  const showLogin = (req: Request, res: Response, status: number, next: string, error?: string) => {
    const nonce = randomBytes(16).toString('base64url');
    res.cookie(LOGIN_COOKIE, nonce, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: '/jobs/monitor',
      maxAge: 3_600_000,
    });
    res
      .status(status)
      .type('html')
      .send(loginPage({ csrf: o.sessions.csrfFor(`login:${nonce}`), next, error, locale: o.locale }));
  };

  r.get('/', noStore, async (req, res) => {
    const session = await o.sessions.load(req);
    if (!session) return showLogin(req, res, 200, safeNext(req.originalUrl));
    res.type('html').send(
      dashboardPage({
        csrf: session.csrf,
        readOnly: o.readOnly,
        expiresAt: session.expiresAt,
        locale: o.locale,
        user: session.who?.name ?? 'admin',
        role: o.readOnly ? 'viewer' : (session.who?.role ?? 'admin'),
      }),
    );
  });

  r.get('/login', noStore, (req, res) => {
    showLogin(req, res, 200, safeNext(req.query.next));
  });

  const limiter = rateLimit({
    windowMs: 5 * 60_000,
    limit: o.loginLimit ?? 30,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Trusting no proxy (TRUST_PROXY=false) while clients send X-Forwarded-For is intended, not a misconfiguration.
    validate: { xForwardedForHeader: false },
    handler: (_req, _res, next) => next(tooManyLoginAttempts()),
  });

  r.post('/login', limiter, form, noStore, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const nonce = readCookie(req, LOGIN_COOKIE);
    if (
      !nonce ||
      typeof body._csrf !== 'string' ||
      !tokenMatches(body._csrf, o.sessions.csrfFor(`login:${nonce}`))
    ) {
      return showLogin(req, res, 403, next, 'The sign-in form expired. Please try again.');
    }
    const who = typeof body.token === 'string' && body.token ? tokens.resolve(body.token) : null;
    if (!who) {
      o.logger.warn({ ip: req.ip }, 'dashboard_login_failed');
      o.onLogin?.(req, null);
      return showLogin(req, res, 401, next, 'Wrong token.');
    }
    await o.sessions.issue(req, res, who);
    res.clearCookie(LOGIN_COOKIE, { path: '/jobs/monitor' });
    o.logger.info({ ip: req.ip, name: who.name, role: who.role }, 'dashboard_login');
    o.onLogin?.(req, who);
    res.redirect(303, next);
  });

  r.post('/logout', form, noStore, async (req, res) => {
    const session = await o.sessions.load(req);
    if (session && !o.sessions.csrfOk(req, session)) throw csrfFailed();
    await o.sessions.clear(req, res);
    if (session) o.logger.info({ ip: req.ip }, 'dashboard_logout');
    res.redirect(303, HOME);
  });

  /**
   * Ends every dashboard session of every browser: admins only (403 `forbidden_role`; `read_only` under
   * DASHBOARD_READ_ONLY), signed in, with the CSRF token. Done and refused attempts are audited.
   */
  r.post('/logout-all', form, noStore, async (req, res) => {
    const session = await o.sessions.load(req);
    if (!session) throw signInRequired();
    if (!o.sessions.csrfOk(req, session)) throw csrfFailed();
    const granted = session.who ?? { name: 'admin', role: 'admin' as const };
    const who: Principal = { ...granted, role: o.readOnly ? 'viewer' : granted.role, via: 'dashboard' };
    const refusal = o.readOnly
      ? readOnly()
      : !roleAtLeast(who.role, 'admin')
        ? forbiddenRole('admin', who.role)
        : null;
    if (refusal) {
      o.logger.warn(
        { ip: req.ip, name: who.name, role: who.role, code: refusal.code },
        'dashboard_logout_all_refused',
      );
      await o.audit?.record(who, { action: 'logout_all', code: refusal.code, detail: `ip ${req.ip}` });
      throw refusal;
    }
    await o.sessions.endAll();
    await o.sessions.clear(req, res);
    o.logger.warn({ ip: req.ip, name: who.name }, 'dashboard_logout_all');
    await o.audit?.record(who, { action: 'logout_all', detail: `ip ${req.ip}` });
    res.redirect(303, HOME);
  });

  return r;
}
