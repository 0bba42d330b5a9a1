import type { Express, RequestHandler } from 'express';
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import type { RunStore } from '../monitor/run-store';
import type { QueueSet } from '../queues/queue-set';
import { DURATION_BUCKETS, type SharedCounters } from './shared-counters';

/** BullMQ job states reported by queue_jobs. */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const;

type Sample = { labels?: Record<string, string | number>; value: number; metricName?: string };

export interface MetricsOptions {
  shared: SharedCounters;
  queues: QueueSet;
  store: RunStore;
  /** Every job id of the registry: gauges report 0 for jobs with nothing to show. */
  jobIds: readonly string[];
  /** How long one scrape's reads from BullMQ and the store are reused. */
  cacheMs?: number;
  /** Node's default process metrics (off in tests that build many systems, if wanted). */
  defaultMetrics?: boolean;
}

/**
 * The Prometheus metrics of one process, on its own prom-client Registry (never the global one, so several
 * systems can live in one process). Run, alert and stuck series are read from shared Redis state on
 * scrape and are the same on every process; recording_requests_total and Node's default metrics belong to
 * the process that serves the scrape.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly recordingRequests: Counter<'status'>;
  private cache: { at: number; value: Promise<ScrapeSnapshot> } | null = null;

  constructor(private readonly opts: MetricsOptions) {
    this.recordingRequests = new Counter({
      name: 'recording_requests_total',
      help: 'Recording download requests answered by this process, by HTTP status.',
      labelNames: ['status'],
      registers: [this.registry],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.external(
      'job_runs_total',
      'counter',
      'Runs finished, by job and final status (all processes).',
      async (s) => s.runs.map((r) => ({ labels: { job_id: r.job_id, status: r.status }, value: r.value })),
    );
    this.external(
      'job_run_duration_seconds',
      'histogram',
      'Run duration from start to end (all processes).',
      async (s) =>
        s.durations.flatMap((d): Sample[] => [
          ...DURATION_BUCKETS.map((b) => ({
            metricName: 'job_run_duration_seconds_bucket',
            labels: { job_id: d.job_id, le: b },
            value: d.buckets[String(b)] ?? 0,
          })),
          {
            metricName: 'job_run_duration_seconds_bucket',
            labels: { job_id: d.job_id, le: '+Inf' },
            value: d.count,
          },
          { metricName: 'job_run_duration_seconds_sum', labels: { job_id: d.job_id }, value: d.sum },
          { metricName: 'job_run_duration_seconds_count', labels: { job_id: d.job_id }, value: d.count },
        ]),
    );
    this.external('job_runs_active', 'gauge', 'Runs pending or running, by job.', async (s) =>
      this.perJob(s.active),
    );
    this.external(
      'jobs_stuck',
      'gauge',
      'Runs the stuck monitor found stuck at its last scan, by job.',
      async (s) => this.perJob(s.stuck),
    );
    this.external('queue_jobs', 'gauge', 'BullMQ jobs per queue and state.', async (s) =>
      s.queues.flatMap(({ queue, counts }) =>
        QUEUE_STATES.map((state) => ({ labels: { queue, state }, value: counts[state] ?? 0 })),
      ),
    );
    this.external(
      'alerts_sent_total',
      'counter',
      'Alerts by rule, channel and outcome (sent, failed, suppressed), all processes.',
      async (s) =>
        s.alerts.map((a) => ({
          labels: { rule: a.rule, channel: a.channel, outcome: a.outcome },
          value: a.value,
        })),
    );
  }

  /** Counts one answer of the recordings route (recording_requests_total{status}). */
  recordingRequest(status: number | string): void {
    this.recordingRequests.inc({ status: String(status) });
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Mounts GET /metrics: public when `isPublic` (METRICS_PUBLIC=true), otherwise behind `guard` (bearer token).
   */
  mount(isPublic: boolean) {
    return (app: Express, guard: RequestHandler) => {
      const handler: RequestHandler = async (_req, res, next) => {
        try {
          const body = await this.text();
          res.set('content-type', this.registry.contentType).send(body);
        } catch (err) {
          next(err);
        }
      };
      if (isPublic) app.get('/metrics', handler);
      else app.get('/metrics', guard, handler);
    };
  }

  private perJob(values: Record<string, number>): Sample[] {
    const ids = new Set([...this.opts.jobIds, ...Object.keys(values)]);
    return [...ids].sort().map((job_id) => ({ labels: { job_id }, value: values[job_id] ?? 0 }));
  }

  /** Registers a metric whose samples are computed from the shared snapshot on each scrape. */
  private external(
    name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
    samples: (s: ScrapeSnapshot) => Promise<Sample[]>,
  ): void {
    const metric = {
      name,
      help,
      type,
      get: async () => ({
        name,
        help,
        type,
        aggregator: 'sum',
        values: await samples(await this.snapshot()),
      }),
    };
    this.registry.registerMetric(metric as never);
  }

  /** Everything the external metrics need, read once per scrape (and reused for `cacheMs`). */
  private snapshot(): Promise<ScrapeSnapshot> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < (this.opts.cacheMs ?? 2000)) return this.cache.value;
    const value = this.read();
    this.cache = { at: now, value };
    value.catch(() => {
      if (this.cache?.value === value) this.cache = null;
    });
    return value;
  }

  private async read(): Promise<ScrapeSnapshot> {
    const { shared, queues, store } = this.opts;
    const [runs, durations, alerts, stuck, active, queueCounts] = await Promise.all([
      shared.readRuns(),
      shared.readDurations(),
      shared.readAlerts(),
      shared.readStuck(),
      store.countActive(),
      Promise.all(
        queues.all().map(async (q) => ({ queue: q.name, counts: await q.getJobCounts(...QUEUE_STATES) })),
      ),
    ]);
    return { runs, durations, alerts, stuck, active, queues: queueCounts };
  }
}

interface ScrapeSnapshot {
  runs: Awaited<ReturnType<SharedCounters['readRuns']>>;
  durations: Awaited<ReturnType<SharedCounters['readDurations']>>;
  alerts: Awaited<ReturnType<SharedCounters['readAlerts']>>;
  stuck: Record<string, number>;
  active: Record<string, number>;
  queues: { queue: string; counts: Record<string, number> }[];
}
