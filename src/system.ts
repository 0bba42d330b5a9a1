import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import { createApp } from './api/app';
import { type ChatOps, createChatOps } from './chatops/chatops';
import type { Config } from './config';
import { createDashboard, type Dashboard, startRunEventPublisher } from './dashboard';
import { JobsService } from './monitor/jobs-service';
import { JobRegistry } from './monitor/registry';
import type { RunStore } from './monitor/run-store';
import { Tracker } from './monitor/tracker';
import { loadAlerts, Observability } from './observability';
import { BullmqEnqueuer } from './queues/bullmq-enqueuer';
import { BullmqLifecycleSource } from './queues/lifecycle-source';
import { QueueSet } from './queues/queue-set';
import { bullConnection, createRedis, waitReady } from './queues/redis';
import { Scheduler } from './scheduler/scheduler';
import { createRecordings, type Recordings, type RecordingsOptions } from './recordings';
import { MongoRunStore } from './store/mongo-run-store';
import { RedisRunStore } from './store/redis-run-store';
import type { Processor } from './workers/processor-context';
import { buildProcessors } from './workers/processors';
import { WorkerPool } from './workers/worker-pool';

/** A running system: what it started and how to stop it. */
export interface System {
  config: Config;
  registry: JobRegistry;
  store: RunStore;
  queues: QueueSet;
  service: JobsService;
  server?: Server;
  /** The port the API listens on (useful with PORT=0). */
  port?: number;
  workers?: WorkerPool;
  tracker?: Tracker;
  scheduler?: Scheduler;
  /** Metrics, events, stuck monitor and alerts (issue 5). */
  observability: Observability;
  /** Dashboard sessions, stats and live stream (api role); `dashboard.altAuth` is reusable by other pages. */
  dashboard?: Dashboard;
  recordings: Recordings;
  /** The Telegram bot (role `bot`, when TELEGRAM_BOT_TOKEN is set). */
  chatops?: ChatOps;
  /** Graceful stop: API stops accepting, workers finish active jobs (within the grace period), tracker flushes. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra or replacement processors (tests, host applications). */
  processors?: Record<string, Processor<never>>;
  /** Worker tuning for tests. */
  workerOverrides?: { stalledInterval?: number; lockDuration?: number; maxStalledCount?: number };
  /** Recordings: a host application's URL source, the metrics hook. */
  recordings?: RecordingsOptions;
}

/** Builds the RunStore the config asks for: MongoDB when MONGO_URL is set, Redis otherwise. */
export async function createStore(config: Config, redis: Redis): Promise<RunStore> {
  if (config.MONGO_URL) {
    const client = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const store = new MongoRunStore(client.db(config.MONGO_DB), { onClose: () => client.close() });
    await store.init();
    return store;
  }
  const store = new RedisRunStore(redis, { prefix: config.QUEUE_PREFIX });
  await store.init();
  return store;
}

/**
 * Composition root: builds every object from the config and starts the roles in `config.ROLES`.
 * Nothing connects on import; tests call this with their own config.
 */
export async function startSystem(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<System> {
  const registry = JobRegistry.fromFile(config.JOBS_CONFIG);
  const roles = new Set(config.ROLES);
  // A bad alerts.yml stops start-up before anything connects.
  const alertsConfig = roles.has('monitor') ? loadAlerts(config) : null;
  const redis = createRedis(config.REDIS_URL, { failFast: true });
  const workerRedis = createRedis(config.REDIS_URL);
  redis.on('error', () => undefined);
  workerRedis.on('error', () => undefined);
  const connection = bullConnection(config.REDIS_URL);
  await Promise.all([waitReady(redis), waitReady(workerRedis)]);

  const store = await createStore(config, redis);
  const queues = new QueueSet(registry.queues(), {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    retentionSeconds: config.JOB_RETENTION_SECONDS,
    eventsMaxLen: config.EVENTS_MAX_LEN,
  });
  const service = new JobsService(registry, store, new BullmqEnqueuer(queues));
  const observability = new Observability({ config, logger, registry, store, queues, redis, workerRedis });
  const recordings = createRecordings(
    config,
    { redis, jobs: service, logger },
    { onResponse: (status) => observability.metrics.recordingRequest(status), ...options.recordings },
  );
  const system: System = {
    config,
    registry,
    store,
    queues,
    service,
    observability,
    recordings,
    stop: async () => undefined,
  };
  const chatops = roles.has('bot')
    ? createChatOps(config, service, logger.child({ role: 'bot' }))
    : undefined;

  if (roles.has('monitor')) {
    const tracker = new Tracker({
      queues: registry.queues(),
      source: new BullmqLifecycleSource(workerRedis, connection, config.QUEUE_PREFIX),
      store,
      logger: logger.child({ role: 'tracker' }),
      maxBufferedRuns: config.TRACKER_MAX_BUFFERED_RUNS,
    });
    // Listeners first, so no stored update goes unseen.
    if (alertsConfig) await observability.startMonitor(tracker, alertsConfig);
    startRunEventPublisher(tracker, redis, config.QUEUE_PREFIX, logger.child({ role: 'tracker' }));
    await tracker.start();
    system.tracker = tracker;
  }

  if (roles.has('scheduler')) {
    const scheduler = new Scheduler(
      registry,
      queues,
      workerRedis,
      config.QUEUE_PREFIX,
      logger.child({ role: 'scheduler' }),
    );
    await scheduler.start();
    system.scheduler = scheduler;
  }

  if (roles.has('worker')) {
    const processors = {
      ...buildProcessors({
        queues,
        retentionSeconds: config.JOB_RETENTION_SECONDS,
        recordings: recordings.processorDeps,
      }),
      ...options.processors,
    };
    const workers = new WorkerPool({
      registry,
      processors,
      redis: workerRedis,
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      eventsMaxLen: config.EVENTS_MAX_LEN,
      logger: logger.child({ role: 'worker' }),
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      lockDuration: config.WORKER_LOCK_DURATION_MS,
      maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
      ...options.workerOverrides,
    });
    workers.start();
    system.workers = workers;
  }

  if (roles.has('api')) {
    const apiLogger = logger.child({ role: 'api' });
    const dashboard = createDashboard({ config, registry, store, queues, redis, logger: apiLogger });
    system.dashboard = dashboard;
    const app = createApp({
      service,
      token: config.DB_HEALTH_TOKEN,
      logger: apiLogger,
      readiness: { redis: () => redis.ping(), store: () => store.ping() },
      authRateLimitPerMinute: config.AUTH_RATE_LIMIT_PER_MINUTE,
      altAuth: dashboard.altAuth,
      jobs: dashboard.jobs,
      mounts: [
        observability.metricsMount(),
        (a) => dashboard.mount(a),
        recordings.mount,
        ...(chatops?.mounts ?? []),
      ],
    });
    const server = app.listen(config.PORT);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    system.server = server;
    const addr = server.address();
    system.port = typeof addr === 'object' && addr ? addr.port : config.PORT;
    logger.info({ port: system.port, store: config.MONGO_URL ? 'mongodb' : 'redis' }, 'api_listening');
  }

  if (chatops) {
    chatops.start();
    system.chatops = chatops;
  }

  system.stop = async () => {
    const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
    const closing: Promise<unknown>[] = [];
    await system.dashboard?.close();
    if (system.chatops) closing.push(system.chatops.stop());
    if (system.server) {
      const server = system.server;
      closing.push(new Promise((r) => server.close(() => r(undefined))));
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), graceMs).unref();
    }
    system.scheduler?.stop();
    // Workers start draining at once; the monitor and alerts stop alongside, not before them.
    if (system.workers) closing.push(system.workers.close(graceMs));
    closing.push(observability.stop());
    await Promise.all(closing);
    if (system.tracker) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([system.tracker.idle(), new Promise((r) => (t = setTimeout(r, 2000)))]);
      clearTimeout(t);
      await system.tracker.stop();
    }
    await queues.close();
    await store.close();
    redis.disconnect();
    workerRedis.disconnect();
  };
  return system;
}
