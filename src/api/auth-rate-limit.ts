import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { tooManyAuthFailures } from './http-errors';
import { type AltAuth, authenticate, type TokenCheck } from './auth';

export interface AuthRateLimitOptions {
  /** The API token; requests that present it (or pass `alt`) are never counted nor limited. */
  expected: TokenCheck;
  alt?: AltAuth;
  /** Failed authentications (401/403) one address may make per minute; 0 turns the limit off. */
  perMinute: number;
  /** Called when an address is refused (log it; never log the token). */
  onLimited?: (req: Request) => void;
}

/**
 * Wraps an auth guard with a per-address limit on failed authentications: once an address has sent
 * `perMinute` requests without valid credentials within a minute, its further unauthenticated requests
 * get 429 `too_many_auth_failures` (with `RateLimit`/`Retry-After` headers) instead of 401/403, so
 * a token cannot be guessed by brute force. Authenticated requests are skipped, so a client with the
 * right token is never locked out by someone else's failures on the same address.
 */
export function withAuthRateLimit(guard: RequestHandler, opts: AuthRateLimitOptions): RequestHandler {
  if (!opts.perMinute) return guard;
  const authenticated = (req: Request, res: Response) =>
    authenticate(req, res, opts.expected, opts.alt) === 'ok';
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: opts.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Trusting no proxy (TRUST_PROXY=false) while clients send X-Forwarded-For is intended, not a misconfiguration.
    validate: { xForwardedForHeader: false },
    skip: authenticated,
    handler: (req, _res, next) => {
      opts.onLimited?.(req);
      next(tooManyAuthFailures());
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    limiter(req, res, (err?: unknown) => (err ? next(err) : guard(req, res, next)));
  };
}
