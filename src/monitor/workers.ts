/**
 * Worker processes and queue depth as the API, the dashboard and ChatOps show them (`GET /api/jobs/workers`).
 * The heartbeat that produces {@link WorkerInfo} lives in src/workers/heartbeat.ts; this module only names
 * the shapes and the one read both the API and the bot call.
 */

/** One live worker process, from its last heartbeat. */
export interface WorkerInfo {
  /** The worker's name (`host:pid` by default): the same name BullMQ stores as a job's `processedBy`. */
  id: string;
  host: string;
  pid: number;
  /** Queues it serves. */
  queues: string[];
  /** Jobs it runs at once, per queue (WORKER_CONCURRENCY). */
  concurrency: number;
  /** Runs in progress in it. */
  active: number;
  /** Their run ids. */
  runs: string[];
  /** ISO times: when it started, its last heartbeat. */
  started_at: string;
  last_seen_at: string;
  /** package.json version of the code it runs. */
  version: string;
}

/** Jobs in one BullMQ queue by state (BullMQ `getJobCounts`). */
export interface QueueDepth {
  queue: string;
  waiting: number;
  delayed: number;
  active: number;
  failed: number;
}

/** Where the live workers and the queue depths are read from. */
export interface WorkersSource {
  /** Workers whose heartbeat has not expired, sorted by id. */
  workers(): Promise<WorkerInfo[]>;
  /** Depth of every registered queue, sorted by queue name. */
  depths(): Promise<QueueDepth[]>;
}

/** The answer of `GET /api/jobs/workers`. */
export interface WorkersOverview {
  workers: WorkerInfo[];
  queues: QueueDepth[];
}

/** Reads workers and queue depths together (the API route and `/jobs workers` call this). */
export async function workersOverview(source: WorkersSource): Promise<WorkersOverview> {
  const [workers, queues] = await Promise.all([source.workers(), source.depths()]);
  return { workers, queues };
}
