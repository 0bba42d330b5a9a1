import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AlertEngine } from './alerts/alert-engine';
import { type AlertsConfig, loadAlertsConfig } from './alerts/alerts-config';
import { buildChannels } from './alerts/channels/build-channels';
import type { Config } from './config';
import type { Lifecycle } from './launcher';
import { RedisEventBus } from './events/redis-event-bus';
import { RedisEventConsumer } from './events/redis-event-consumer';
import { logErrorsOncePerEpisode } from './log-once';
import { Metrics } from './metrics/metrics';
import type { JobRun, RunMarks } from './monitor/run';
import { SharedCounters } from './metrics/shared-counters';
import type { EventBus } from './monitor/events';
import type { JobRegistry } from './monitor/registry';
import { RUN_RETENTION_SECONDS } from './monitor/run';
import { type AppliedSource, publishRunEvents } from './monitor/run-events';
import { failureEvents } from './monitor/failure-events';
import type { RunStore } from './monitor/run-store';
import { StuckMonitor } from './monitor/stuck-monitor';
import type { Tracker } from './monitor/tracker';
import { BullmqQueueProbe } from './queues/queue-probe';
import type { QueueSet } from './queues/queue-set';
import { RedisKeys } from './queues/redis-keys';
import { RedisLock, takeOnce } from './queues/redis-lock';
import { RedisRunEventBus } from './queues/redis-run-events';

/** The environment `${VAR}` references in alerts.yml are filled from: the process env plus config values. */
export function alertsEnv(config: Config, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const fromConfig: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fromConfig[k] = String(v);
  }
  return { ...env, ...fromConfig };
}

/** Loads ALERTS_CONFIG; call before connecting anything so a bad file stops start-up at once. */
export function loadAlerts(config: Config): AlertsConfig {
  return loadAlertsConfig(config.ALERTS_CONFIG, alertsEnv(config));
}

export interface ObservabilityDeps {
  config: Config;
  logger: Logger;
  registry: JobRegistry;
  store: RunStore;
  queues: QueueSet;
  /** Fail-fast connection with a command timeout (request paths): scrapes. */
  requestRedis: Redis;
  /** Patient connection (offline queue): events, counters, locks; duplicated for the blocking reader. */
  backgroundRedis: Redis;
  /** The one writer's "give up on a run" (JobsService.markRunFailed): the stuck monitor's `job_lost` ending. */
  markRunFailed?: (run: JobRun, reason: string) => Promise<void>;
  /** The one writer's marks (JobsService.markRun): the stuck monitor's `stuck` flags. */
  markRun?: (run: JobRun, marks: RunMarks) => Promise<void>;
  /** Monitor role: the reconciler whose stored batches are counted and published, and alerts.yml. */
  monitor?: { tracker: Tracker; alerts: AlertsConfig };
}

/**
 * Stuck detection, events, alerts and metrics, wired for one process. `metrics` exists in every process
 * (mount it in the API). As a {@link Lifecycle} it is the monitor role's part (built with `deps.monitor`):
 * `start()` counts and publishes what the tracker stores and runs the alert engine and the stuck monitor,
 * `stop(deadline)` ends them; it starts before the tracker so no stored batch goes unseen.
 */
export class Observability implements Lifecycle {
  readonly name = 'monitor';
  readonly metrics: Metrics;
  readonly events: EventBus;
  private readonly counters: SharedCounters;
  monitor?: StuckMonitor;
  alerts?: AlertEngine;
  private consumer?: RedisEventConsumer;

  constructor(private readonly deps: ObservabilityDeps) {
    const prefix = deps.config.QUEUE_PREFIX;
    this.events = new RedisEventBus(deps.backgroundRedis, prefix);
    this.counters = new SharedCounters(deps.backgroundRedis, prefix);
    this.metrics = new Metrics({
      shared: new SharedCounters(deps.requestRedis, prefix),
      queues: deps.queues,
      store: deps.store,
      jobIds: deps.registry.jobs.map((j) => j.job_id),
    });
  }

  /**
   * Counts the runs that finished in every batch a writer stored (the workers' recorders, the reconciler) and
   * emits `job_failed` once per failed run for the alert engine.
   */
  watchApplied(source: AppliedSource): void {
    const log = this.deps.logger.child({ role: 'metrics' });
    const counted = this.deps.store.countsFinishedRuns === true;
    source.onApplied((updates) => {
      if (!counted)
        this.counters.recordRuns(updates).catch((err) => log.warn({ err }, 'metrics_record_failed'));
      for (const ev of failureEvents(updates)) {
        this.events
          .emitOnce(ev.key, RUN_RETENTION_SECONDS, ev.name, ev.fields)
          .catch((err) => log.warn({ err, run_id: ev.fields.run_id }, 'event_emit_failed'));
      }
    });
  }

  /** Mount for createApp's `mounts`: GET /metrics (bearer token unless METRICS_PUBLIC=true). */
  metricsMount() {
    return this.metrics.mount(this.deps.config.METRICS_PUBLIC);
  }

  /**
   * Monitor role: run counters and `job_failed` from the tracker, the live-stream publisher (every batch the
   * tracker stores goes to the live stream of every API process), the stuck monitor, and the alert engine
   * reading the event stream. @throws when built without `deps.monitor`
   */
  async start(): Promise<void> {
    const { config, logger } = this.deps;
    if (!this.deps.monitor) throw new Error('the monitor role needs a tracker and the alerts config');
    const { tracker, alerts: alertsConfig } = this.deps.monitor;
    const log = logger.child({ role: 'monitor' });
    this.watchApplied(tracker);
    const trackerLog = logger.child({ role: 'tracker' });
    publishRunEvents(
      tracker,
      new RedisRunEventBus(this.deps.requestRedis, config.QUEUE_PREFIX, trackerLog),
      (err) => trackerLog.warn({ err }, 'run_events_publish_failed'),
    );

    const alertLog = logger.child({ role: 'alerts' });
    const keys = new RedisKeys(config.QUEUE_PREFIX);
    const redis = this.deps.backgroundRedis;
    this.alerts = new AlertEngine({
      config: alertsConfig,
      channels: buildChannels(alertsConfig, alertLog, {
        telegramApiRoot: config.TELEGRAM_API_ROOT ?? 'https://api.telegram.org',
      }),
      cooldowns: {
        take: (key, ms) => takeOnce(redis, keys.alertCooldown(key), ms),
      },
      logger: alertLog,
      webappUrl: config.WEBAPP_URL,
      locale: config.LOCALE,
      onOutcome: (rule, channel, outcome) => {
        this.counters
          .recordAlert(rule, channel, outcome)
          .catch((err) => alertLog.warn({ err }, 'metrics_record_failed'));
      },
    });
    const alerts = this.alerts;
    // A connection of its own (blocking reads); it reconnects by itself, and outages show in /readyz.
    const consumerRedis = redis.duplicate();
    logErrorsOncePerEpisode(consumerRedis, alertLog, 'redis_connection_error', { connection: 'events' });
    this.consumer = new RedisEventConsumer({
      redis: consumerRedis,
      prefix: config.QUEUE_PREFIX,
      logger: alertLog,
    });
    await this.consumer.start((ev) => alerts.handle(ev));

    const intervalMs = config.JOBS_STUCK_MONITOR_INTERVAL_SECS * 1000;
    this.monitor = new StuckMonitor({
      registry: this.deps.registry,
      store: this.deps.store,
      events: this.events,
      lock: new RedisLock(redis, keys.monitorLock, Math.max(3 * intervalMs, 5000)),
      queues: new BullmqQueueProbe(this.deps.queues),
      markFailed: this.deps.markRunFailed,
      mark: this.deps.markRun,
      logger: log,
      thresholdMinutes: config.JOBS_STUCK_THRESHOLD_MINUTES,
      intervalSeconds: config.JOBS_STUCK_MONITOR_INTERVAL_SECS,
      onScan: (r) => this.counters.setStuck(r.stuckByJob, 3 * intervalMs + 5000),
    });
    this.monitor.start();
  }

  /**
   * Stops scanning (releasing the lock), reading events, and pending alert retries; deliveries in progress get
   * until `deadline`, at most 2 s (the parts stopped after this one share the deadline).
   */
  async stop(deadline: number): Promise<void> {
    await this.monitor?.stop();
    await this.consumer?.stop();
    await this.alerts?.stop(Math.min(deadline, Date.now() + 2000));
  }
}
