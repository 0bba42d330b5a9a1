import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AlertEngine } from './alerts/alert-engine';
import { type AlertsConfig, loadAlertsConfig } from './alerts/alerts-config';
import { buildChannels } from './alerts/channels/build-channels';
import type { Config } from './config';
import { RedisEventBus } from './events/redis-event-bus';
import { RedisEventConsumer } from './events/redis-event-consumer';
import { RedisLock } from './events/redis-lock';
import { Metrics } from './metrics/metrics';
import { SharedCounters } from './metrics/shared-counters';
import type { EventBus } from './monitor/events';
import type { JobRegistry } from './monitor/registry';
import { RUN_RETENTION_SECONDS } from './monitor/run';
import { failureEvents } from './monitor/failure-events';
import type { RunStore } from './monitor/run-store';
import { StuckMonitor } from './monitor/stuck-monitor';
import type { Tracker } from './monitor/tracker';
import { BullmqQueueProbe } from './queues/queue-probe';
import type { QueueSet } from './queues/queue-set';

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
  /** Fail-fast connection: scrapes. */
  redis: Redis;
  /** Patient connection (offline queue): events, counters, locks; duplicated for the blocking reader. */
  workerRedis: Redis;
}

/**
 * Stuck detection, events, alerts and metrics, wired for one process. `metrics` exists in every process
 * (mount it in the API); `startMonitor` runs the monitor-role parts next to the tracker.
 */
export class Observability {
  readonly metrics: Metrics;
  readonly events: EventBus;
  private readonly counters: SharedCounters;
  monitor?: StuckMonitor;
  alerts?: AlertEngine;
  private consumer?: RedisEventConsumer;

  constructor(private readonly deps: ObservabilityDeps) {
    const prefix = deps.config.QUEUE_PREFIX;
    this.events = new RedisEventBus(deps.workerRedis, prefix);
    this.counters = new SharedCounters(deps.workerRedis, prefix);
    this.metrics = new Metrics({
      shared: new SharedCounters(deps.redis, prefix),
      queues: deps.queues,
      store: deps.store,
      jobIds: deps.registry.jobs.map((j) => j.job_id),
    });
  }

  /** Mount for createApp's `mounts`: GET /metrics (bearer token unless METRICS_PUBLIC=true). */
  metricsMount() {
    return this.metrics.mount(this.deps.config.METRICS_PUBLIC);
  }

  /**
   * Monitor role: run counters and `job_failed` from the tracker, the stuck monitor, and the alert engine
   * reading the event stream.
   */
  async startMonitor(tracker: Tracker, alertsConfig: AlertsConfig): Promise<void> {
    const { config, logger } = this.deps;
    const log = logger.child({ role: 'monitor' });
    tracker.onApplied((updates) => {
      this.counters
        .recordRuns(updates)
        .catch((err) => log.warn({ err: (err as Error).message }, 'metrics_record_failed'));
      for (const ev of failureEvents(updates)) {
        this.events
          .emitOnce(ev.key, RUN_RETENTION_SECONDS, ev.name, ev.fields)
          .catch((err) =>
            log.warn({ err: (err as Error).message, run_id: ev.fields.run_id }, 'event_emit_failed'),
          );
      }
    });

    const alertLog = logger.child({ role: 'alerts' });
    const cooldownPrefix = `${config.QUEUE_PREFIX}:alerts:cooldown:`;
    const redis = this.deps.workerRedis;
    this.alerts = new AlertEngine({
      config: alertsConfig,
      channels: buildChannels(alertsConfig, alertLog, {
        telegramApiRoot: config.TELEGRAM_API_ROOT ?? 'https://api.telegram.org',
      }),
      cooldowns: {
        take: async (key, ms) =>
          (await redis.set(cooldownPrefix + key, '1', 'PX', Math.max(1, Math.round(ms)), 'NX')) === 'OK',
      },
      logger: alertLog,
      webappUrl: config.WEBAPP_URL,
      onOutcome: (rule, channel, outcome) => {
        this.counters
          .recordAlert(rule, channel, outcome)
          .catch((err) => alertLog.warn({ err: (err as Error).message }, 'metrics_record_failed'));
      },
    });
    const alerts = this.alerts;
    // A connection of its own (blocking reads); it reconnects by itself, and outages show in /readyz.
    const consumerRedis = redis.duplicate();
    consumerRedis.on('error', () => undefined);
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
      lock: new RedisLock(redis, `${config.QUEUE_PREFIX}:monitor:lock`, Math.max(3 * intervalMs, 5000)),
      queues: new BullmqQueueProbe(this.deps.queues),
      logger: log,
      thresholdMinutes: config.JOBS_STUCK_THRESHOLD_MINUTES,
      intervalSeconds: config.JOBS_STUCK_MONITOR_INTERVAL_SECS,
      onScan: (r) => this.counters.setStuck(r.stuckByJob, 3 * intervalMs + 5000),
    });
    this.monitor.start();
  }

  /** Stops scanning (releasing the lock), reading events, and pending alert retries. */
  async stop(): Promise<void> {
    await this.monitor?.stop();
    await this.consumer?.stop();
    await this.alerts?.stop();
  }
}
