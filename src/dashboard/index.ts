import type { Express, Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type AltAuth, TokenDirectory } from '../api/auth';
import type { JobsRouterOptions } from '../api/jobs-routes';
import type { Config } from '../config';
import type { AuditLog } from '../monitor/audit';
import { JobStatsService } from '../monitor/job-stats';
import type { JobRegistry } from '../monitor/registry';
import { RunEventHub } from '../monitor/run-events';
import type { RunStore } from '../monitor/run-store';
import { BullmqScheduleReader } from '../queues/bullmq-schedules';
import type { QueueSet } from '../queues/queue-set';
import { RedisRunEventBus } from '../queues/redis-run-events';
import { mountBullBoard } from './bull-board';
import { dashboardRouter } from './dashboard-routes';
import { bullBoardHeaders, dashboardHeaders } from './security';
import { RedisSessionStore, SessionManager, sessionAltAuth } from './session';

export { SessionManager, sessionAltAuth } from './session';

export interface DashboardDeps {
  config: Config;
  registry: JobRegistry;
  store: RunStore;
  queues: QueueSet;
  /** Shared Redis connection (publishing; the stream subscribes on its own duplicate). */
  redis: Redis;
  logger: Logger;
  /** Called after each dashboard login attempt (null: wrong token); the audit log records it. */
  onLogin?: (req: Request, who: { name: string; role: string } | null) => void;
  /** Where logout-all is recorded. */
  audit?: AuditLog;
}

/** What the API role needs from the dashboard module. */
export interface Dashboard {
  sessions: SessionManager;
  /** Pass as `altAuth` so /api/jobs (and other pages) accept the dashboard session. */
  altAuth: AltAuth;
  /** Loads the request's session from the store; mount before every route that uses `altAuth`. */
  sessionLoader: RequestHandler;
  /** Stats, live stream and read-only mode for the jobs API. */
  jobs: JobsRouterOptions;
  /** Mounts /jobs/monitor and /jobs/queues (use in `createApp({ mounts })`). */
  mount(app: Express): void;
  /** Ends open live streams and the Redis subscription. */
  close(): Promise<void>;
}

/** Builds the dashboard: sessions, stats, the live event hub, the pages and Bull Board. */
export function createDashboard(d: DashboardDeps): Dashboard {
  const sessions = new SessionManager({
    token: d.config.DB_HEALTH_TOKEN,
    secret: d.config.SESSION_SECRET,
    ttlMs: d.config.SESSION_TTL_HOURS * 3_600_000,
    store: new RedisSessionStore(d.redis, d.config.QUEUE_PREFIX),
  });
  const hub = new RunEventHub(new RedisRunEventBus(d.redis, d.config.QUEUE_PREFIX, d.logger), d.logger);
  const readOnly = d.config.DASHBOARD_READ_ONLY;
  return {
    sessions,
    altAuth: sessionAltAuth(sessions),
    sessionLoader: sessions.middleware(),
    jobs: {
      stats: new JobStatsService(d.registry, d.store, new BullmqScheduleReader(d.queues), Date.now, d.logger),
      events: hub,
      readOnly,
      heartbeatMs: d.config.SSE_HEARTBEAT_SECONDS * 1000,
    },
    mount(app) {
      app.use(
        '/jobs/monitor',
        dashboardHeaders(),
        dashboardRouter({
          token: new TokenDirectory(d.config.DB_HEALTH_TOKEN, d.config.API_TOKENS),
          sessions,
          readOnly,
          logger: d.logger,
          onLogin: d.onLogin,
          audit: d.audit,
          locale: d.config.LOCALE,
        }),
      );
      mountBullBoard(app, { queues: d.queues, sessions, readOnly, headers: bullBoardHeaders() });
    },
    close: () => hub.close(),
  };
}
