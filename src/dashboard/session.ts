import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../queues/redis-keys';
import { type AltAuth, tokenMatches } from '../api/auth';
import { ACCESS_ROLES, type AccessRole, type Principal } from '../monitor/principal';
import { csrfFailed } from '../api/http-errors';

/** Name of the dashboard session cookie. */
export const SESSION_COOKIE = 'jm_session';
/** Header the dashboard's scripts send the CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * Where sessions live on the server, so they can be ended before their cookie expires. Every API process of
 * a deployment must share one (Redis in production).
 */
export interface SessionStore {
  /** Records a new live session for `ttlMs`, signed in as `who` (default: the admin token). */
  create(id: string, ttlMs: number, who?: SessionWho): Promise<void>;
  /** True while the session exists and no {@link endAll} came after it was created. */
  isLive(id: string): Promise<boolean>;
  /** Who signed in, while the session is live (see {@link isLive}); null otherwise. */
  lookup(id: string): Promise<SessionWho | null>;
  /** Ends one session at once (logout). */
  end(id: string): Promise<void>;
  /** Ends every session that exists now (logout-all). */
  endAll(): Promise<void>;
}

/** The token a dashboard session signed in with: its name and role. */
export interface SessionWho {
  name: string;
  role: AccessRole;
}

const ADMIN_WHO: SessionWho = { name: 'admin', role: 'admin' };

/** Session value in Redis: `<generation>` (sessions from before roles: admin) or `<generation>|<role>|<name>`. */
function parseSessionValue(v: string): { gen: string; who: SessionWho } {
  const [gen, role, ...name] = v.split('|');
  if (role && (ACCESS_ROLES as readonly string[]).includes(role) && name.length)
    return { gen, who: { role: role as AccessRole, name: name.join('|') } };
  return { gen, who: ADMIN_WHO };
}

/** The Redis keys of dashboard sessions (named in {@link RedisKeys}). */
export function sessionKeys(prefix: string) {
  const keys = new RedisKeys(prefix);
  return {
    session: (id: string) => keys.dashboardSession(id),
    generation: keys.dashboardSessionGeneration,
  };
}

/**
 * Sessions in Redis: one key per session holding the generation it was created in, with the session's
 * lifetime as its TTL, plus one generation counter that logout-all increments (so ending all sessions is
 * one command, however many there are).
 */
export class RedisSessionStore implements SessionStore {
  private readonly keys: ReturnType<typeof sessionKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = sessionKeys(prefix);
  }

  async create(id: string, ttlMs: number, who: SessionWho = ADMIN_WHO): Promise<void> {
    const gen = (await this.redis.get(this.keys.generation)) ?? '0';
    const value = `${gen}|${who.role}|${who.name}`;
    await this.redis.set(this.keys.session(id), value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async isLive(id: string): Promise<boolean> {
    return (await this.lookup(id)) !== null;
  }

  async lookup(id: string): Promise<SessionWho | null> {
    const [value, current] = await Promise.all([
      this.redis.get(this.keys.session(id)),
      this.redis.get(this.keys.generation),
    ]);
    if (value === null) return null;
    const { gen, who } = parseSessionValue(value);
    return gen === (current ?? '0') ? who : null;
  }

  async end(id: string): Promise<void> {
    await this.redis.del(this.keys.session(id));
  }

  async endAll(): Promise<void> {
    await this.redis.incr(this.keys.generation);
  }
}

/** Sessions in this process's memory (unit tests; a single process). */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, { gen: number; until: number; who: SessionWho }>();
  private generation = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async create(id: string, ttlMs: number, who: SessionWho = ADMIN_WHO): Promise<void> {
    this.sessions.set(id, { gen: this.generation, until: this.now() + ttlMs, who });
  }

  async isLive(id: string): Promise<boolean> {
    return (await this.lookup(id)) !== null;
  }

  async lookup(id: string): Promise<SessionWho | null> {
    const s = this.sessions.get(id);
    return s && s.gen === this.generation && s.until > this.now() ? s.who : null;
  }

  async end(id: string): Promise<void> {
    this.sessions.delete(id);
  }

  async endAll(): Promise<void> {
    this.generation++;
    this.sessions.clear();
  }
}

export interface SessionOptions {
  /** The admin token (DB_HEALTH_TOKEN); the signing key is derived from it when `secret` is unset. */
  token: string;
  /** SESSION_SECRET: an explicit signing key. */
  secret?: string;
  ttlMs: number;
  /** Server-side record of live sessions (logout and logout-all end them there). */
  store: SessionStore;
  now?: () => number;
}

/** A verified dashboard session. */
export interface Session {
  id: string;
  expiresAt: number;
  /** The CSRF token bound to this session (double-submit: the page sends it back in a header or field). */
  csrf: string;
  /** The token it signed in with (name and role); admin when unknown. */
  who?: SessionWho;
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
 * Revocable signed sessions for the dashboard: cookie `jm_session=<id>.<expiresMs>.<hmac>`, HttpOnly,
 * SameSite=Strict, Secure behind HTTPS, expiring after `ttlMs`. A session is valid only while the
 * {@link SessionStore} holds it too, so logout ends it at once and logout-all ends every one. The token
 * itself is never stored in the cookie or sent to the page; the key is SESSION_SECRET or an HMAC of the
 * token, so rotating either also ends every session.
 *
 * Checking a session needs the store: {@link load} (or the {@link middleware}) does it once per request,
 * after which {@link read} answers synchronously.
 */
export class SessionManager {
  private readonly key: Buffer;
  private readonly now: () => number;
  private readonly loaded = new WeakMap<Request, Session | null>();

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

  /** Starts a session: records it in the store, sets the cookie and returns it. */
  async issue(req: Request, res: Response, who: SessionWho = ADMIN_WHO): Promise<Session> {
    const id = b64(randomBytes(18));
    const expiresAt = this.now() + this.opts.ttlMs;
    await this.opts.store.create(id, this.opts.ttlMs, who);
    const session = { id, expiresAt, csrf: this.csrfFor(id), who };
    this.loaded.set(req, session);
    res.cookie(SESSION_COOKIE, this.mint(expiresAt, id), {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: '/',
      maxAge: this.opts.ttlMs,
    });
    return session;
  }

  /** The cookie's session when the cookie is ours, intact and not expired (the store is not asked). */
  verify(req: Request): Session | null {
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

  /**
   * The request's session when its cookie verifies and the store still holds it; otherwise null. Asks the
   * store once per request (the answer is kept for {@link read}).
   * @throws what the store throws (Redis down), so the request fails instead of passing as anonymous.
   */
  async load(req: Request): Promise<Session | null> {
    if (this.loaded.has(req)) return this.loaded.get(req) ?? null;
    const session = this.verify(req);
    const who = session ? await this.opts.store.lookup(session.id) : null;
    const out = session && who ? { ...session, who } : null;
    this.loaded.set(req, out);
    return out;
  }

  /** The session {@link load} found for this request; null when there is none or it was not loaded. */
  read(req: Request): Session | null {
    return this.loaded.get(req) ?? null;
  }

  /** Express middleware: loads the request's session (only requests with a session cookie touch the store). */
  middleware(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      if (!readCookie(req, SESSION_COOKIE)) return next();
      this.load(req).then(() => next(), next);
    };
  }

  /** Ends the session in this browser and on the server (a saved copy of the cookie stops working too). */
  async clear(req: Request, res: Response): Promise<void> {
    const session = this.verify(req);
    if (session) await this.opts.store.end(session.id);
    this.loaded.set(req, null);
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
  }

  /** Ends every session of every browser (logout-all). */
  async endAll(): Promise<void> {
    await this.opts.store.endAll();
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
 * The `altAuth` hook for `requireToken`: a valid dashboard session (loaded by {@link
 * SessionManager.middleware} earlier in the app) authenticates the request; an unsafe
 * method (POST, PUT, ...) also needs the session's CSRF token, else 403 `csrf_failed`. Other pages that
 * share the dashboard login (e.g. the recordings player) pass this to their guards too.
 */
export function sessionAltAuth(sessions: SessionManager): AltAuth {
  return (req) => {
    const session = sessions.read(req);
    if (!session) return false;
    if (!SAFE_METHODS.has(req.method) && !sessions.csrfOk(req, session)) throw csrfFailed();
    const who = session.who ?? ADMIN_WHO;
    return { name: who.name, role: who.role, via: 'dashboard' } satisfies Principal;
  };
}
