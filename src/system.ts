import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import { createApp } from './api/app';
import { TokenDirectory } from './api/auth';
import { type ChatOps, createChatOps } from './chatops/chatops';
import { type Config, type Role, runRetentionSeconds } from './config';
import type { AlertsConfig } from './alerts/alerts-config';
import { createDashboard, type Dashboard } from './dashboard';
import { logErrorsOncePerEpisode } from './log-once';
import { Launcher, type Lifecycle, type StopReport } from './launcher';
import { AuditLog } from './monitor/audit';
import { BulkActions } from './monitor/bulk';
import { RedisBulkStore } from './queues/redis-bulk';
import { JobsService } from './monitor/jobs-service';
import { OperatorActions } from './monitor/operator-actions';
import type { Principal } from './monitor/principal';
import { createAuditStore } from './store/audit-stores';
import { JobRegistry } from './monitor/registry';
import type { PayloadSource } from './monitor/redact';
import type { JobRun } from './monitor/run';
import type { RunStore } from './monitor/run-store';
import { publishRunEvents } from './monitor/run-events';
import { RunWriter } from './monitor/run-writer';
import { Tracker } from './monitor/tracker';
import { loadAlerts, Observability } from './observability';
import { BullmqEnqueuer } from './queues/bullmq-enqueuer';
import { BullmqScheduleReader } from './queues/bullmq-schedules';
import { BullmqLifecycleSource } from './queues/lifecycle-source';
import { RedisRecordingGaps } from './queues/redis-recording-gaps';
import { QueueSet } from './queues/queue-set';
import { bullConnection, closeBullConnection, createRedis } from './queues/redis';
import { RedisClock } from './queues/redis-clock';
import { redisDurabilityWarnings } from './queues/redis-durability';
import { RedisRunEventBus } from './queues/redis-run-events';
import { ApiRole, connectionsPart, trackerRole, workerRole } from './roles';
import { Scheduler } from './scheduler/scheduler';
import { BullmqScheduleControl } from './scheduler/schedule-control';
import { RedisPauseStore } from './queues/redis-pauses';
import { RedisRetryClaims } from './queues/redis-retry-claims';
import { createRecordings, type Recordings, type RecordingsOptions } from './recordings';
import { DOWNLOAD_JOB_ID } from './recordings/recording-service';
import { MongoRunStore } from './store/mongo-run-store';
import { RedisRunStore } from './store/redis-run-store';
import { isMongoOutage, withStoreErrors } from './store/unavailable';
import type { Processor } from './workers/processor-context';
import { buildProcessors, PROCESSORS } from './workers/processors';
import { RunRecorder } from './workers/run-recorder';
import { RedisWorkersSource, WorkerHeartbeat } from './workers/heartbeat';
import { CancelListener } from './workers/cancel-listener';
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
  /** Records the runs this process's workers execute (worker role). */
  recorder?: RunRecorder;
  scheduler?: Scheduler;
  /** Metrics, events, stuck monitor and alerts (issue 5). */
  observability: Observability;
  /** Dashboard sessions, stats and live stream (api role); `dashboard.altAuth` is reusable by other pages. */
  dashboard?: Dashboard;
  recordings: Recordings;
  /** The Telegram bot (role `bot`, when TELEGRAM_BOT_TOKEN is set). */
  chatops?: ChatOps;
  /**
   * Stops the roles in reverse start order by `deadline` (epoch ms; default now + SHUTDOWN_GRACE_SECONDS): the
   * bot and the API stop accepting, workers finish active jobs, the tracker flushes, connections close. Parts
   * that miss the deadline are abandoned and named in the report.
   */
  stop(deadline?: number): Promise<StopReport>;
  /** While a stop runs: the parts not stopped yet (see {@link Launcher.unfinished}). */
  unfinished(): string[];
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
export async function createStore(config: Config, redis: Redis, logger?: Logger): Promise<RunStore> {
  const maxResultBytes = config.RUN_RESULT_MAX_BYTES;
  const retentionSeconds = runRetentionSeconds(config);
  if (config.MONGO_URL) {
    const client = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const store = withStoreErrors(
      new MongoRunStore(client.db(config.MONGO_DB), {
        onClose: () => client.close(),
        maxResultBytes,
        retentionSeconds,
        logger,
      }),
      isMongoOutage,
    );
    await store.init();
    return store;
  }
  const store = redisRunStore(config, redis, logger);
  await store.init();
  return store;
}

/** The Redis run store of this deployment on a given connection (the same keys and rules on any). */
function redisRunStore(config: Config, redis: Redis, logger?: Logger): RedisRunStore {
  return new RedisRunStore(redis, {
    prefix: config.QUEUE_PREFIX,
    maxResultBytes: config.RUN_RESULT_MAX_BYTES,
    retentionSeconds: runRetentionSeconds(config),
    logger,
  });
}

/**
 * Composition root: builds every object from the config, then starts the parts the config asks for in order —
 * connections, monitor, tracker, scheduler, worker, api, bot — and stops them in reverse (src/launcher.ts).
 * Nothing connects on import; tests call this with their own config.
 */
export async function startSystem(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<System> {
  // RECORDING_JOB_TIMEOUT_SECONDS is recording_download's stuck threshold unless jobs.yml sets one.
  const registry = JobRegistry.fromFile(config.JOBS_CONFIG).withStuckDefault(
    DOWNLOAD_JOB_ID,
    config.RECORDING_JOB_TIMEOUT_SECONDS / 60,
  );
  // A process that runs workers refuses to start (before connecting), naming the file and the job, when a
  // callback_name has no processor: shipped (PROCESSORS) or passed in `options.processors`.
  if (config.ROLES.includes('worker'))
    registry.assertProcessors(
      new Set([...Object.keys(PROCESSORS), ...Object.keys(options.processors ?? {})]),
      config.JOBS_CONFIG,
    );
  const roles = new Set(config.ROLES);
  // A bad alerts.yml stops start-up before anything connects.
  const alertsConfig = roles.has('monitor') ? loadAlerts(config) : null;
  // Request paths: fail fast and time out (503 store_unavailable); also the store and the queue producers.
  // The command timeout is switched on once the store and queues are set up (below): a slow start must not leave
  // a BullMQ queue whose one-time initialisation timed out.
  const requestRedis = createRedis(config, { failFast: true });
  // Background work: patient (offline queue, no command timeout): workers, tracker, scheduler, locks, events.
  const backgroundRedis = createRedis(config);
  // What BullMQ opens its own blocking connections from (a Cluster client with REDIS_CLUSTER_NODES).
  const bullmq = bullConnection(config);
  logErrorsOncePerEpisode(requestRedis, logger, 'redis_connection_error', { connection: 'request' });
  logErrorsOncePerEpisode(backgroundRedis, logger, 'redis_connection_error', { connection: 'background' });
  // With REDIS_WAIT_REPLICAS, triggers add their jobs on a connection of their own: WAIT blocks the connection
  // it is sent on, and the API's reads must not queue behind it.
  const producerRedis =
    config.REDIS_WAIT_REPLICAS > 0
      ? createRedis(config, { failFast: true, connectionName: 'jobs-monitor-producer' })
      : null;
  if (producerRedis)
    logErrorsOncePerEpisode(producerRedis, logger, 'redis_connection_error', { connection: 'producer' });
  let store: RunStore | undefined;
  let queues: QueueSet | undefined;
  let producerQueues: QueueSet | undefined;
  const connections = connectionsPart({
    requestRedis,
    backgroundRedis,
    producerRedis,
    store: () => store,
    queues: () => [queues, producerQueues],
    close: () => closeBullConnection(bullmq),
  });
  let parts: ReturnType<typeof buildRoles>;
  try {
    await connections.start();
    store = await createStore(config, requestRedis, logger);
    const queueOptions = {
      prefix: config.QUEUE_PREFIX,
      attempts: config.JOB_ATTEMPTS,
      backoffMs: config.JOB_BACKOFF_MS,
      retentionSeconds: config.JOB_RETENTION_SECONDS,
      eventsMaxLen: config.EVENTS_MAX_LEN,
      logger,
    };
    queues = new QueueSet(registry.queues(), { connection: requestRedis, ...queueOptions });
    if (producerRedis)
      producerQueues = new QueueSet(registry.queues(), { connection: producerRedis, ...queueOptions });
    await Promise.all([...queues.all(), ...(producerQueues?.all() ?? [])].map((q) => q.waitUntilReady()));
    requestRedis.options.commandTimeout = config.REDIS_COMMAND_TIMEOUT_MS;
    if (producerRedis) producerRedis.options.commandTimeout = config.REDIS_COMMAND_TIMEOUT_MS;
    const warnings = await redisDurabilityWarnings(requestRedis);
    for (const warning of warnings) logger.warn({ warning }, 'redis_durability_warning');
    parts = buildRoles(config, logger, options, {
      warnings,
      registry,
      store,
      queues,
      requestRedis,
      backgroundRedis,
      bullmq,
      alertsConfig,
      producerQueues,
    });
  } catch (err) {
    await connections.stop(Date.now() + 1000);
    throw err;
  }
  const launcher = new Launcher([connections, ...parts.roles], logger);
  await launcher.start();
  const { api } = parts;
  return {
    config,
    registry,
    store,
    queues,
    ...parts.built,
    server: api?.server,
    port: api?.port,
    stop: (deadline = Date.now() + config.SHUTDOWN_GRACE_SECONDS * 1000) => launcher.stop(deadline),
    unfinished: () => launcher.unfinished,
  };
}

/** Run payloads from BullMQ while the job exists; a run of a queue no longer registered has none. */
function payloadSource(queues: QueueSet): PayloadSource {
  const enqueuer = new BullmqEnqueuer(queues);
  return {
    payloadOf: async (run) =>
      queues.names.includes(run.queue) ? enqueuer.payloadOf(run as JobRun) : undefined,
  };
}

interface Connected {
  warnings: string[];
  registry: JobRegistry;
  store: RunStore;
  queues: QueueSet;
  requestRedis: Redis;
  backgroundRedis: Redis;
  /** BullMQ's connection options (or Cluster client) for workers and the tracker's QueueEvents. */
  bullmq: object;
  alertsConfig: AlertsConfig | null;
  /** The queues triggers add jobs through when REDIS_WAIT_REPLICAS > 0 (their own connection). */
  producerQueues?: QueueSet;
}

/** What every role builder may use: the connected parts and the objects every process shares. */
interface Shared extends Connected {
  config: Config;
  logger: Logger;
  options: StartOptions;
  service: JobsService;
  observability: Observability;
  recordings: Recordings;
  /** Audited operator actions, shared by the API, the dashboard and the bot. */
  actions: OperatorActions;
  /** The reconciler (monitor role only). */
  tracker?: Tracker;
  /** The bot (bot role with TELEGRAM_BOT_TOKEN); the api role mounts its webhook. */
  chatops?: ChatOps;
  workersSource: RedisWorkersSource;
}

/** The objects a running System exposes besides its connections. */
type Exposed = Pick<System, 'tracker' | 'recorder' | 'scheduler' | 'workers' | 'dashboard'> & {
  api?: ApiRole;
};

/** What one role adds to the process: its parts in start order, and what the System exposes of it. */
interface RoleParts {
  parts: Lifecycle[];
  exposes?: Exposed;
}

/**
 * The roles in start order (the Launcher stops them in reverse): the monitor listens before anything is
 * stored, the reconciler outlives the workers, the API stops taking work first, the bot last to start.
 * A new role is one entry here and its builder below.
 */
const ROLE_BUILDERS: readonly { role: Role; build(s: Shared): RoleParts }[] = [
  { role: 'monitor', build: monitorParts },
  { role: 'scheduler', build: schedulerParts },
  { role: 'worker', build: workerParts },
  { role: 'api', build: apiParts },
  { role: 'bot', build: botParts },
];

/** The roles `config.ROLES` asks for, in start order, and the objects a `System` exposes. */
function buildRoles(config: Config, logger: Logger, options: StartOptions, c: Connected) {
  const { registry, store, queues, requestRedis, alertsConfig } = c;
  const roles = new Set(config.ROLES);
  // #12: paused jobs live in Redis (every process sees them; a pause survives restarts).
  const pauses = new RedisPauseStore(requestRedis, config.QUEUE_PREFIX);
  const enqueuer = new BullmqEnqueuer(queues, {
    producer: c.producerQueues,
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    // Within the request's command timeout, so a WAIT that runs out answers 503 with the run id.
    waitTimeoutMs: Math.max(10, Math.floor(config.REDIS_COMMAND_TIMEOUT_MS / 2)),
  });
  const service = new JobsService(registry, store, enqueuer, {
    logger: logger.child({ component: 'jobs' }),
    pauses,
    schedules: new BullmqScheduleControl(registry, queues, pauses),
    // A failed run is retried once, whichever process (API, bot, bulk action) asks.
    retries: new RedisRetryClaims(requestRedis, config.QUEUE_PREFIX),
  });
  const tracker = roles.has('monitor') && alertsConfig ? buildTracker(config, logger, c) : undefined;
  const observability = new Observability({
    config,
    logger,
    registry,
    store,
    queues,
    requestRedis,
    backgroundRedis: c.backgroundRedis,
    markRunFailed: (run, reason) => service.markRunFailed(run, reason),
    markRun: (run, marks) => service.markRun(run, marks),
    ...(tracker && alertsConfig ? { monitor: { tracker, alerts: alertsConfig } } : {}),
  });
  const recordings = createRecordings(
    config,
    { redis: requestRedis, jobs: service, logger },
    { onResponse: (status) => observability.metrics.recordingRequest(status), ...options.recordings },
  );
  // Operator actions and their audit log (Redis stream, or MongoDB with MONGO_URL), shared by API, dashboard, bot.
  const auditStore = createAuditStore(config, requestRedis);
  const actions = new OperatorActions(
    service,
    new AuditLog(auditStore.store, logger.child({ component: 'audit' })),
  );
  const workersSource = new RedisWorkersSource(requestRedis, config.QUEUE_PREFIX, queues);
  const chatops = roles.has('bot')
    ? createChatOps(config, service, logger.child({ role: 'bot' }), {
        workers: workersSource,
        schedules: new BullmqScheduleReader(queues),
        actions,
      })
    : undefined;
  const shared: Shared = {
    ...c,
    config,
    logger,
    options,
    service,
    observability,
    recordings,
    actions,
    tracker,
    chatops,
    workersSource,
  };

  const list: Lifecycle[] = [
    { name: 'audit', start: () => auditStore.start(), stop: () => auditStore.close() },
  ];
  let exposed: Exposed = {};
  for (const { role, build } of ROLE_BUILDERS) {
    if (!roles.has(role)) continue;
    const out = build(shared);
    list.push(...out.parts);
    exposed = { ...exposed, ...out.exposes };
  }
  const { api, ...built } = exposed;
  return { roles: list, api, built: { service, observability, recordings, chatops, ...built } };
}

/** The reconciler: the tracker in reconcile mode over every queue's events stream (monitor role). */
function buildTracker(config: Config, logger: Logger, c: Connected): Tracker {
  const { registry, store } = c;
  const log = logger.child({ role: 'tracker' });
  return new Tracker({
    queues: registry.queues(),
    source: new BullmqLifecycleSource(c.backgroundRedis, c.bullmq, config.QUEUE_PREFIX, undefined, log),
    store,
    logger: log,
    maxBufferedRuns: config.TRACKER_MAX_BUFFERED_RUNS,
    maxResultBytes: config.RUN_RESULT_MAX_BYTES,
    isRegistered: (jobId, queue) => registry.get(jobId)?.queue === queue,
    searchKeysOf: (jobId) => registry.get(jobId)?.search_keys,
    // Workers record their own runs; the tracker reconciles what they can't report: BullMQ-only changes
    // (filtered where the streams live) and the ends of workers that died or dropped updates (gaps).
    reconcile: {
      graceMs: config.RECONCILE_GRACE_MS,
      gaps: new RedisRecordingGaps(c.backgroundRedis, config.QUEUE_PREFIX),
    },
    lookup: (ids) => store.statuses(ids),
  });
}

/** Monitor role: counters, failure events, alerts, the stuck monitor and the live stream; then the reconciler. */
function monitorParts(s: Shared): RoleParts {
  if (!s.tracker) return { parts: [] };
  return { parts: [s.observability, trackerRole(s.tracker)], exposes: { tracker: s.tracker } };
}

/** Scheduler role: BullMQ job schedulers kept in step with the registry. */
function schedulerParts(s: Shared): RoleParts {
  const { config, backgroundRedis } = s;
  const scheduler = new Scheduler(
    s.registry,
    s.queues,
    backgroundRedis,
    config.QUEUE_PREFIX,
    s.logger.child({ role: 'scheduler' }),
    undefined,
    new RedisPauseStore(backgroundRedis, config.QUEUE_PREFIX),
  );
  return { parts: [scheduler], exposes: { scheduler } };
}

/** Worker role: the pool running every queue's jobs, recording its own runs, with cancels and a heartbeat. */
function workerParts(s: Shared): RoleParts {
  const { config, registry, backgroundRedis } = s;
  const processors = {
    ...buildProcessors({
      queues: s.queues,
      retentionSeconds: config.JOB_RETENTION_SECONDS,
      recordings: s.recordings.processorDeps,
    }),
    ...s.options.processors,
  };
  const workerLogger = s.logger.child({ role: 'worker' });
  const workerName = `${hostname()}:${process.pid}`;
  const clock = new RedisClock(backgroundRedis, workerLogger);
  const recorder = new RunRecorder({
    // With the Redis store, the recorder writes on the patient background connection: its batches don't
    // queue behind API requests and enqueues on the request connection (nor time out with them).
    writer: new RunWriter(config.MONGO_URL ? s.store : redisRunStore(config, backgroundRedis, workerLogger)),
    clock,
    logger: workerLogger,
    worker: workerName,
    maxBufferedRuns: config.TRACKER_MAX_BUFFERED_RUNS,
    maxResultBytes: config.RUN_RESULT_MAX_BYTES,
    // A span whose ends may be missing (updates dropped in a store outage, BullMQ trouble) goes to the
    // reconciler, which records those runs from BullMQ.
    onGap: (fromMs, toMs) =>
      new RedisRecordingGaps(backgroundRedis, config.QUEUE_PREFIX).report({
        worker: workerName,
        queues: registry.queues(),
        fromMs,
        toMs,
      }),
  });
  s.observability.watchApplied(recorder);
  publishRunEvents(recorder, new RedisRunEventBus(s.requestRedis, config.QUEUE_PREFIX, workerLogger), (err) =>
    workerLogger.warn({ err }, 'run_events_publish_failed'),
  );
  const workers = new WorkerPool({
    recorder,
    name: workerName,
    registry,
    processors,
    redis: backgroundRedis,
    connection: s.bullmq,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    logger: workerLogger,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    lockDuration: config.WORKER_LOCK_DURATION_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    ...s.options.workerOverrides,
  });
  const heartbeat = new WorkerHeartbeat({
    redis: backgroundRedis,
    prefix: config.QUEUE_PREFIX,
    id: workers.name,
    queues: registry.queues(),
    concurrency: config.WORKER_CONCURRENCY,
    activeRuns: () => workers.activeRunIds(),
    intervalMs: config.WORKER_HEARTBEAT_SECONDS * 1000,
    logger: workerLogger,
    recorder,
  });
  const cancels = new CancelListener(backgroundRedis, config.QUEUE_PREFIX, workers, workerLogger);
  return {
    parts: [workerRole(workers, workerLogger, { recorder, clock }, heartbeat, cancels)],
    exposes: { workers, recorder },
  };
}

/** API role: the HTTP server (API, dashboard, metrics, recordings, the bot's webhook); then bulk actions resume. */
function apiParts(s: Shared): RoleParts {
  const { config, registry, store, queues, requestRedis, actions } = s;
  const apiLogger = s.logger.child({ role: 'api' });
  const dashboard = createDashboard({
    config,
    registry,
    store,
    queues,
    redis: requestRedis,
    logger: apiLogger,
    audit: actions.audit,
    onLogin: (req, signedIn) => {
      const p = signedIn ? { ...signedIn, via: 'dashboard' as const } : null;
      void actions.audit.record(p as Principal | null, {
        action: 'login',
        ...(signedIn ? {} : { code: 'wrong_token' }),
        detail: `ip ${req.ip}`,
      });
    },
  });
  // #12 bulk retry/cancel: state in Redis; unfinished ones resumed when the API starts and every
  // BULK_RESUME_SECONDS (one left by a process that died, once its claim lapses).
  const resumeEveryMs = config.BULK_RESUME_SECONDS * 1000;
  const bulk = new BulkActions(
    store,
    new RedisBulkStore(requestRedis, config.QUEUE_PREFIX, Math.max(5000, 2 * resumeEveryMs)),
    actions,
    { resumeEveryMs, logger: apiLogger.child({ component: 'bulk' }) },
  );
  const app = createApp({
    service: s.service,
    actions,
    bulk,
    token: new TokenDirectory(config.DB_HEALTH_TOKEN, config.API_TOKENS),
    logger: apiLogger,
    readiness: { redis: () => requestRedis.ping(), store: () => store.ping() },
    warnings: s.warnings,
    authRateLimitPerMinute: config.AUTH_RATE_LIMIT_PER_MINUTE,
    trustProxy: config.TRUST_PROXY,
    altAuth: dashboard.altAuth,
    sessionLoader: dashboard.sessionLoader,
    jobs: {
      ...dashboard.jobs,
      payloads: { source: payloadSource(queues), redactKeys: config.REDACT_KEYS },
      redactKeys: config.REDACT_KEYS,
      locale: config.LOCALE,
    },
    workers: s.workersSource,
    mounts: [
      s.observability.metricsMount(),
      (a) => dashboard.mount(a),
      s.recordings.mount,
      ...(s.chatops?.mounts ?? []),
    ],
  });
  const api = new ApiRole(app, {
    port: config.PORT,
    dashboard,
    logger: apiLogger,
    store: config.MONGO_URL ? 'mongodb' : 'redis',
  });
  return {
    parts: [api, { name: 'bulk', start: () => bulk.run(), stop: () => bulk.stop() }],
    exposes: { api, dashboard },
  };
}

/** Bot role: the Telegram bot (nothing without TELEGRAM_BOT_TOKEN). */
function botParts(s: Shared): RoleParts {
  return { parts: s.chatops ? [s.chatops] : [] };
}
