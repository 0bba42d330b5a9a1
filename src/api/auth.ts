import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../monitor/errors';

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

/** Hook for the dashboard session: another way a request may be authenticated. */
export type AltAuth = (req: Request) => boolean;

/** The outcome of checking a request's credentials. */
export type AuthResult = 'ok' | 'missing' | 'wrong';

/**
 * Checks a request's credentials once: a bearer token (constant-time compare), else the alternative (a
 * dashboard session). The result is kept on `res.locals`, so the rate limiter and the guard share one check.
 * @throws what `alt` throws (e.g. csrf_failed).
 */
export function authenticate(req: Request, res: Response, expected: string, alt?: AltAuth): AuthResult {
  const cached = res.locals.jmAuth as AuthResult | undefined;
  if (cached) return cached;
  const presented = bearerToken(req);
  const result: AuthResult =
    presented === null ? (alt?.(req) ? 'ok' : 'missing') : tokenMatches(presented, expected) ? 'ok' : 'wrong';
  res.locals.jmAuth = result;
  return result;
}

/**
 * Requires `Authorization: Bearer $DB_HEALTH_TOKEN` (or an accepted alternative such as a dashboard
 * session): 401 `unauthorized` when missing, 403 `forbidden` when wrong.
 */
export function requireToken(expected: string, alt?: AltAuth, onWrong?: (req: Request) => void) {
  return (req: Request, res: Response, next: NextFunction) => {
    const result = authenticate(req, res, expected, alt);
    if (result === 'missing')
      return next(new AppError('unauthorized', 401, 'send Authorization: Bearer <token>'));
    if (result === 'wrong') {
      onWrong?.(req);
      return next(new AppError('forbidden', 403, 'wrong token'));
    }
    next();
  };
}
