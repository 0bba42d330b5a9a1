import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { AccessRole, Principal } from '../monitor/principal';
import { unauthorized, wrongToken } from './http-errors';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Compares a presented token with the expected one in constant time (both are hashed first, so neither
 * the content nor the length leaks through timing).
 */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Reads `Authorization: Bearer <token>`; null when absent or malformed. */
export function bearerToken(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}

/** A token with its name and role (DB_HEALTH_TOKEN is `admin`/admin; API_TOKENS adds others). */
export interface NamedToken {
  name: string;
  role: AccessRole;
  token: string;
}

/**
 * The tokens a deployment accepts. {@link resolve} compares the presented token with every one of them
 * in constant time (no early exit), so timing tells nothing about which one nearly matched.
 */
export class TokenDirectory {
  readonly tokens: readonly NamedToken[];

  constructor(adminToken: string, others: readonly NamedToken[] = []) {
    this.tokens = [{ name: 'admin', role: 'admin', token: adminToken }, ...others];
  }

  /** The token's name and role, or null when no token matches. */
  resolve(presented: string): { name: string; role: AccessRole } | null {
    let found: NamedToken | null = null;
    for (const t of this.tokens) if (tokenMatches(presented, t.token) && !found) found = t;
    return found ? { name: found.name, role: found.role } : null;
  }
}

/** What `requireToken` checks tokens against: the admin token alone, or a directory of named tokens. */
export type TokenCheck = string | TokenDirectory;

const directoryOf = (check: TokenCheck) => (typeof check === 'string' ? new TokenDirectory(check) : check);

/**
 * Hook for the dashboard session: another way a request may be authenticated. Returns the session's
 * principal (or true for an admin), false when it does not authenticate the request.
 */
export type AltAuth = (req: Request) => boolean | Principal;

/** The outcome of checking a request's credentials. */
export type AuthResult = 'ok' | 'missing' | 'wrong';

/**
 * Checks a request's credentials once: a bearer token (constant-time compare), else the alternative (a
 * dashboard session). The result and the caller's {@link Principal} are kept on `res.locals`, so the rate
 * limiter, the guard and the role checks share one check.
 * @throws what `alt` throws (e.g. csrf_failed).
 */
export function authenticate(req: Request, res: Response, expected: TokenCheck, alt?: AltAuth): AuthResult {
  const cached = res.locals.jmAuth as AuthResult | undefined;
  if (cached) return cached;
  const presented = bearerToken(req);
  let result: AuthResult;
  if (presented === null) {
    const who = alt?.(req) ?? false;
    if (who) {
      res.locals.jmPrincipal =
        who === true ? ({ name: 'admin', role: 'admin', via: 'dashboard' } satisfies Principal) : who;
      result = 'ok';
    } else result = 'missing';
  } else {
    const found = directoryOf(expected).resolve(presented);
    if (found) res.locals.jmPrincipal = { ...found, via: 'api' } satisfies Principal;
    result = found ? 'ok' : 'wrong';
  }
  res.locals.jmAuth = result;
  return result;
}

/** The authenticated caller of this request (set by the guard), or null before authentication. */
export function principalOf(res: Response): Principal | null {
  return (res.locals.jmPrincipal as Principal | undefined) ?? null;
}

/**
 * Requires `Authorization: Bearer <token>` (DB_HEALTH_TOKEN or one of API_TOKENS; or an accepted alternative
 * such as a dashboard session): 401 `unauthorized` when missing, 403 `forbidden` when wrong.
 */
export function requireToken(expected: TokenCheck, alt?: AltAuth, onWrong?: (req: Request) => void) {
  const check = directoryOf(expected);
  return (req: Request, res: Response, next: NextFunction) => {
    const result = authenticate(req, res, check, alt);
    if (result === 'missing') return next(unauthorized());
    if (result === 'wrong') {
      onWrong?.(req);
      return next(wrongToken());
    }
    next();
  };
}
