import express, { type Express, type Request } from 'express';
import type { Logger } from 'pino';
import { AppError } from '../monitor/errors';
import type { JobsService } from '../monitor/jobs-service';
import { type AltAuth, requireToken } from './auth';
import { withAuthRateLimit } from './auth-rate-limit';
import { errorHandler } from './error-handler';
import { type JobsRouterOptions, jobsRouter } from './jobs-routes';

export interface ApiDeps {
  service: JobsService;
  token: string;
  logger: Logger;
  /** Each returns normally when its dependency answers; used by /readyz. */
  readiness: Record<string, () => Promise<unknown>>;
  /** Other ways to authenticate (the dashboard session). */
  altAuth?: AltAuth;
  /** Stats, live stream and read-only mode of the jobs API (src/dashboard wires them). */
  jobs?: JobsRouterOptions;
  /**
   * Extra mounts added by their modules (dashboard, Bull Board, recordings, metrics), in order, before the
   * 404 and error handlers. `guard` is the bearer-token (or session) middleware.
   */
  mounts?: ((app: Express, guard: ReturnType<typeof requireToken>) => void)[];
  /** Failed authentications per minute per address before 429 (0 = no limit; default 30). */
  authRateLimitPerMinute?: number;
}

/** Builds the Express app; nothing listens until the caller does. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(express.json({ limit: '100kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    let ok = true;
    await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          checks[name] = 'ok';
        } catch (err) {
          ok = false;
          checks[name] = `down: ${(err as Error).message}`.slice(0, 200);
        }
      }),
    );
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks });
  });

  const guard = withAuthRateLimit(
    requireToken(deps.token, deps.altAuth, (req: Request) =>
      deps.logger.warn({ ip: req.ip, path: req.path }, 'auth_wrong_token'),
    ),
    {
      expected: deps.token,
      alt: deps.altAuth,
      perMinute: deps.authRateLimitPerMinute ?? 30,
      onLimited: (req) => deps.logger.warn({ ip: req.ip, path: req.path }, 'auth_rate_limited'),
    },
  );
  app.use('/api/jobs', guard, jobsRouter(deps.service, deps.jobs));
  for (const mount of deps.mounts ?? []) mount(app, guard);

  app.use((_req, _res, next) => next(new AppError('not_found', 404, 'no such route')));
  app.use(errorHandler(deps.logger));
  return app;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]);
}
