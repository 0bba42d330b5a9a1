import express, { type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { JobsService } from '../monitor/jobs-service';
import { type AltAuth, requireToken, type TokenCheck } from './auth';
import { withAuthRateLimit } from './auth-rate-limit';
import { errorHandler } from './error-handler';
import { routeNotFound } from './http-errors';
import type { WorkersSource } from '../monitor/workers';
import { type JobsRouterOptions, jobsRouter } from './jobs-routes';
import { trendsRouter } from './trends-routes';
import { workersRouter } from './workers-routes';
import { actionsRouter } from './actions-routes';
import { auditRouter } from './audit-routes';
import type { BulkActions } from '../monitor/bulk';
import { OperatorActions } from '../monitor/operator-actions';

export interface ApiDeps {
  service: JobsService;
  /** DB_HEALTH_TOKEN alone, or a TokenDirectory with the named tokens of API_TOKENS too. */
  token: TokenCheck;
  logger: Logger;
  /** Each returns normally when its dependency answers; used by /readyz. */
  readiness: Record<string, () => Promise<unknown>>;
  /** Configuration risks /readyz lists under `warnings` (still 200), e.g. a Redis that may evict or forget. */
  warnings?: readonly string[];
  /** Other ways to authenticate (the dashboard session). */
  altAuth?: AltAuth;
  /** Runs before every route: loads what `altAuth` checks (the dashboard's session from its store). */
  sessionLoader?: RequestHandler;
  /** Operator actions with their audit log (default: the service's, audited in memory only). */
  actions?: OperatorActions;
  /** Bulk retry/cancel (`POST /api/jobs/runs/bulk`); off without it. */
  bulk?: BulkActions;
  /** Stats, live stream and read-only mode of the jobs API (src/dashboard wires them). */
  jobs?: JobsRouterOptions;
  /** Live workers and queue depths (`GET /api/jobs/workers`); without it the route is absent. */
  workers?: WorkersSource;
  /**
   * Extra mounts added by their modules (dashboard, Bull Board, recordings, metrics), in order, before the
   * 404 and error handlers. `guard` is the bearer-token (or session) middleware.
   */
  mounts?: ((app: Express, guard: ReturnType<typeof requireToken>) => void)[];
  /** Failed authentications per minute per address before 429 (0 = no limit; default 30). */
  authRateLimitPerMinute?: number;
  /**
   * Express `trust proxy` (TRUST_PROXY): which proxies' X-Forwarded-For gives the client address.
   * @defaultValue false (no proxy: the client is the socket's address, so X-Forwarded-For can't dodge limits)
   */
  trustProxy?: false | number | string[];
}

/** Builds the Express app; nothing listens until the caller does. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  // Every answer (JSON, files, pages, and the 400/413 of a body that fails to parse): browsers must not guess
  // another type than the one sent. Set before body parsing, whose errors skip every later middleware.
  app.use(helmet.xContentTypeOptions());
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
    const warnings = deps.warnings?.length ? { warnings: deps.warnings } : {};
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks, ...warnings });
  });

  if (deps.sessionLoader) app.use(deps.sessionLoader);
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
  if (deps.workers) app.use('/api/jobs/workers', guard, workersRouter(deps.workers));
  if (deps.jobs?.stats) app.use(trendsRouter(deps.jobs.stats, guard));
  const actions = deps.actions ?? new OperatorActions(deps.service);
  app.use(
    '/api/jobs',
    guard,
    auditRouter(actions.audit),
    actionsRouter(actions, { readOnly: deps.jobs?.readOnly, bulk: deps.bulk }),
    jobsRouter(deps.service, deps.jobs),
  );
  for (const mount of deps.mounts ?? []) mount(app, guard);

  app.use((_req, _res, next) => next(routeNotFound()));
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
