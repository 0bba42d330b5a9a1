import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError } from '../monitor/errors';
import { NotReplicatedError, StoreUnavailableError } from '../monitor/store-unavailable-error';

/**
 * The one place errors become responses: AppError → its status and `{"error": code, ...}`;
 * body-parser errors → 400/413; {@link StoreUnavailableError} → 503 `store_unavailable` with Retry-After (and the `run_id` of a
 * {@link NotReplicatedError}); anything else → 500 (logged).
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
    if (err instanceof NotReplicatedError) {
      logger.warn({ path: req.path, err }, 'backend_not_replicated');
      res.set('Retry-After', '5').status(503).json({
        error: StoreUnavailableError.code,
        message:
          'the run was queued but not confirmed by enough replicas in time; look it up before triggering again',
        run_id: err.runId,
      });
      return;
    }
    if (err instanceof StoreUnavailableError) {
      logger.warn({ path: req.path, err }, 'backend_unavailable');
      res
        .set('Retry-After', '5')
        .status(503)
        .json({ error: StoreUnavailableError.code, message: 'storage is unreachable' });
      return;
    }
    logger.error({ path: req.path, err }, 'request_failed');
    res.status(500).json({ error: 'internal_error', message: 'internal error' });
  };
}
