import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { type AltAuth, tokenMatches } from '../api/auth';
import { csrfFailed } from '../monitor/errors';

/** Name of the dashboard session cookie. */
export const SESSION_COOKIE = 'jm_session';
/** Header the dashboard's scripts send the CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionOptions {
  /** The admin token (DB_HEALTH_TOKEN); the signing key is derived from it when `secret` is unset. */
  token: string;
  /** SESSION_SECRET: an explicit signing key. */
  secret?: string;
  ttlMs: number;
  now?: () => number;
}

/** A verified dashboard session. */
export interface Session {
  id: string;
  expiresAt: number;
  /** The CSRF token bound to this session (double-submit: the page sends it back in a header or field). */
  csrf: string;
}

const b64 = (b: Buffer) => b.toString('base64url');

/** Reads one cookie from the Cookie header (no dependency on cookie-parser being mounted). */
export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * Stateless signed sessions for the dashboard: cookie `jm_session=<id>.<expiresMs>.<hmac>`, HttpOnly,
 * SameSite=Strict, Secure behind HTTPS, expiring after `ttlMs`. The token itself is never stored in the
 * cookie or sent to the page; the key is SESSION_SECRET or an HMAC of the token, so rotating either ends
 * every session.
 */
export class SessionManager {
  private readonly key: Buffer;
  private readonly now: () => number;

  constructor(private readonly opts: SessionOptions) {
    this.key = opts.secret
      ? createHash('sha256').update(`jm-session:${opts.secret}`).digest()
      : createHmac('sha256', opts.token).update('jm-dashboard-session-v1').digest();
    this.now = opts.now ?? Date.now;
  }

  private sign(payload: string): string {
    return b64(createHmac('sha256', this.key).update(payload).digest());
  }

  /** The CSRF token of a session id (or of a pre-login nonce). */
  csrfFor(id: string): string {
    return this.sign(`csrf:${id}`);
  }

  /** A signed cookie value for a new session expiring at `expiresAt` (tests use it to forge expiry). */
  mint(expiresAt: number, id = b64(randomBytes(18))): string {
    const payload = `${id}.${expiresAt}`;
    return `${payload}.${this.sign(payload)}`;
  }

  /** Starts a session: sets the cookie and returns it. */
  issue(req: Request, res: Response): Session {
    const id = b64(randomBytes(18));
    const expiresAt = this.now() + this.opts.ttlMs;
    res.cookie(SESSION_COOKIE, this.mint(expiresAt, id), {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: '/',
      maxAge: this.opts.ttlMs,
    });
    return { id, expiresAt, csrf: this.csrfFor(id) };
  }

  /** The request's session when its cookie is ours, intact and not expired; otherwise null. */
  read(req: Request): Session | null {
    const raw = readCookie(req, SESSION_COOKIE);
    if (!raw) return null;
    const parts = raw.split('.');
    if (parts.length !== 3) return null;
    const [id, exp, sig] = parts;
    if (!tokenMatches(sig, this.sign(`${id}.${exp}`))) return null;
    const expiresAt = Number(exp);
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= this.now()) return null;
    return { id, expiresAt, csrf: this.csrfFor(id) };
  }

  /** Ends the session in this browser. */
  clear(req: Request, res: Response): void {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
  }

  /** True when the request carries the session's CSRF token (header, or `_csrf` form field). */
  csrfOk(req: Request, session: Session): boolean {
    const body = req.body as Record<string, unknown> | undefined;
    const sent = req.get(CSRF_HEADER) ?? (typeof body?._csrf === 'string' ? body._csrf : '');
    return !!sent && tokenMatches(sent, session.csrf);
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The `altAuth` hook for `requireToken`: a valid dashboard session authenticates the request; an unsafe
 * method (POST, PUT, ...) also needs the session's CSRF token, else 403 `csrf_failed`. Other pages that
 * share the dashboard login (e.g. the recordings player) pass this to their guards too.
 */
export function sessionAltAuth(sessions: SessionManager): AltAuth {
  return (req) => {
    const session = sessions.read(req);
    if (!session) return false;
    if (!SAFE_METHODS.has(req.method) && !sessions.csrfOk(req, session)) throw csrfFailed();
    return true;
  };
}
