import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError } from '../monitor/errors';

/** True for errors that mean "Redis (or the store) can't be reached right now". */
export function isUnavailable(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string })?.code;
  return (
    /Connection is closed|ECONNREFUSED|Stream isn't writeable|enableOfflineQueue|MaxRetriesPerRequest|ETIMEDOUT|ECONNRESET|server selection|MongoNetworkError|Reached the max retries/i.test(
      msg,
    ) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code ?? '')
  );
}

/**
 * The one place errors become responses: AppError → its status and `{"error": code, ...}`;
 * body-parser errors → 400/413; backend outages → 503 with Retry-After; anything else → 500 (logged).
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof AppError) {
      res.status(err.status).json({ error: err.code, message: err.message, ...err.extra });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'payload_too_large', message: 'request body too large' });
      return;
    }
    if (e?.type === 'entity.parse.failed' || (e?.status === 400 && e?.type)) {
      res.status(400).json({ error: 'invalid_body', message: 'request body is not valid JSON' });
      return;
    }
    if (e?.status && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: 'bad_request', message: e.message ?? 'bad request' });
      return;
    }
    if (isUnavailable(err)) {
      logger.warn({ path: req.path, err: e?.message }, 'backend_unavailable');
      res
        .set('Retry-After', '5')
        .status(503)
        .json({ error: 'service_unavailable', message: 'storage is unreachable' });
      return;
    }
    logger.error({ path: req.path, err: e?.message, stack: (err as Error)?.stack }, 'request_failed');
    res.status(500).json({ error: 'internal_error', message: 'internal error' });
  };
}
