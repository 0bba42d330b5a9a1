import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Job, Queue, Worker } from 'bullmq';
import { MongoClient } from 'mongodb';
import pino, { type Logger } from 'pino';
import { type Config, loadConfig } from '../../src/config';
import { defaultJobOptions } from '../../src/queues/queue-set';
import { bullConnection } from '../../src/queues/redis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { startSystem } from '../../src/system';
import type { Processor } from '../../src/workers/processor-context';
import { BENCH_REDIS_URL, benchPrefix, benchRedis, deletePrefix } from './redis';
import type { RunUpdate } from '../../src/monitor/run';

/** The one queue and job every throughput bench uses. */
export const BENCH_QUEUE = 'bench';
export const BENCH_JOB = 'bench_job';

/**
 * What each job does: nothing; report progress every 10% and write 20 log lines; or wait 20 ms of
 * simulated I/O (`io`, a job that is not CPU-bound, for comparison).
 */
export type Work = 'noop' | 'logs' | 'io';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * bare = BullMQ Queue + Worker only; tracked = WorkerPool + Tracker + RunStore (Redis, or Mongo);
 * tracked-split = WorkerPool here, Tracker + RedisRunStore in a child process (ROLES=monitor);
 * pool-only = our WorkerPool without a tracker (diagnostics: splits the cost between the two).
 */
export type Side = 'bare' | 'tracked' | 'tracked-mongo' | 'tracked-split' | 'pool-only';

/** Starts bench/lib/role-process.ts with the given roles on a prefix; resolves once it printed `ready`. */
export function startRoleProcess(
  prefix: string,
  roles: string,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'role-process.ts')], {
      env: { ...process.env, ...env, BENCH_PREFIX: prefix, BENCH_ROLES: roles },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`bench process (${roles}) exited with ${code}`)));
  });
}

/** Stops a process started by {@link startRoleProcess} (SIGTERM: graceful) and waits for it. */
export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A registry with the single bench job (dynamic, so nothing schedules it; concurrent runs allowed). */
export function benchJobsYml(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jm-bench-'));
  const file = join(dir, 'jobs.yml');
  writeFileSync(
    file,
    `jobs: []\ndynamic_jobs:\n  - { job_id: ${BENCH_JOB}, name: Bench, category: bench, callback_name: bench, queue: ${BENCH_QUEUE} }\n`,
  );
  return file;
}

/** The config the tracked side runs with; the bare side copies its job options from it. */
export function benchConfig(prefix: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    REDIS_URL: BENCH_REDIS_URL,
    // bench:scale's cluster rounds: every process of the round (children inherit it) uses the cluster.
    REDIS_CLUSTER_NODES: process.env.BENCH_REDIS_CLUSTER_NODES ?? '',
    QUEUE_PREFIX: prefix,
    JOBS_CONFIG: benchJobsYml(),
    DB_HEALTH_TOKEN: randomBytes(16).toString('hex'),
    ROLES: 'worker,monitor',
    WORKER_CONCURRENCY: '50',
    SHUTDOWN_GRACE_SECONDS: '30',
    ...extra,
  });
}

export function benchLogger(): Logger {
  return pino({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' }, pino.destination(2));
}

/** Our processor for the bench job (goes through the ProcessorContext: throttled progress, batched logs). */
export function trackedProcessor(work: Work): Processor<never> {
  if (work === 'noop') return (async () => null) as Processor<never>;
  if (work === 'io') return (async () => sleep(20).then(() => null)) as Processor<never>;
  return (async (ctx) => {
    for (let i = 1; i <= 10; i++) {
      await ctx.progress(i, 10);
      ctx.log(`item ${2 * i - 1}`);
      ctx.log(`item ${2 * i}`);
    }
    return null;
  }) as Processor<never>;
}

/** The same work written against plain BullMQ (job.updateProgress, job.log). */
export function bareProcessor(work: Work): (job: Job) => Promise<unknown> {
  if (work === 'noop') return async () => null;
  if (work === 'io') return async () => sleep(20).then(() => null);
  return async (job: Job) => {
    for (let i = 1; i <= 10; i++) {
      await job.updateProgress({ processed: i, total: 10 });
      await job.log(`item ${2 * i - 1}`);
      await job.log(`item ${2 * i}`);
    }
    return null;
  };
}

export interface RoundResult {
  side: Side;
  jobs: number;
  /** Bare: from the first addBulk call to the last worker 'completed' event. Tracked: to the last run's final record. */
  ms: number;
  /** Tracked only: from the first addBulk to the last worker 'completed' event. */
  workersDoneMs?: number;
  jobsPerSec: number;
  /** Tracked only: from the first addBulk to the moment the tracker had stored everything it received. */
  storeIdleMs?: number;
  /** Tracked only: per finished run, ms from job.finishedOn to its final record being written. */
  lagsMs?: number[];
  failed: number;
}

export interface RoundOptions {
  side: Side;
  work: Work;
  jobs: number;
  concurrency?: number;
}

const ENQUEUE_CHUNK = 1000;

/** Adds `n` bench jobs with addBulk in chunks (the same on both sides). */
async function enqueueAll(queue: Queue, n: number): Promise<void> {
  for (let i = 0; i < n; i += ENQUEUE_CHUNK) {
    const chunk = Array.from({ length: Math.min(ENQUEUE_CHUNK, n - i) }, (_, k) => ({
      name: BENCH_JOB,
      data: { trigger: 'api' as const, user_id: null, payload: { i: i + k } },
    }));
    await queue.addBulk(chunk);
  }
}

/** Resolves when `target` jobs finished (completed or failed) on the given workers. */
function finishedOn(workers: Worker[], target: number): { done: Promise<number>; failed: () => number } {
  let completed = 0;
  let failed = 0;
  let resolve!: (t: number) => void;
  const done = new Promise<number>((r) => {
    resolve = r;
  });
  const tick = () => {
    if (completed + failed === target) resolve(Date.now());
  };
  for (const w of workers) {
    w.on('completed', () => {
      completed++;
      tick();
    });
    w.on('failed', () => {
      failed++;
      tick();
    });
  }
  return { done, failed: () => failed };
}

/**
 * One measured round on a fresh prefix: starts the side, enqueues `jobs` with addBulk while the workers
 * run, and times from the first add to the last completion. Deletes its keys afterwards.
 */
export async function runRound(o: RoundOptions): Promise<RoundResult> {
  const prefix = benchPrefix(o.side);
  const concurrency = o.concurrency ?? 50;
  const redis = benchRedis();
  try {
    if (o.side === 'bare') return await bareRound(o, prefix, concurrency);
    return await trackedRound(o, prefix, concurrency);
  } finally {
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

/**
 * The producer both sides enqueue with: a plain BullMQ Queue on its own connection, with the system's job
 * options, so the enqueueing is the same work on both sides and only what runs the jobs differs.
 */
function producer(bullPrefix: string, config: Config): { queue: Queue; conn: ReturnType<typeof benchRedis> } {
  const conn = benchRedis();
  const queue = new Queue(BENCH_QUEUE, {
    connection: conn,
    prefix: bullPrefix,
    defaultJobOptions: defaultJobOptions({
      attempts: config.JOB_ATTEMPTS,
      backoffMs: config.JOB_BACKOFF_MS,
      retentionSeconds: config.JOB_RETENTION_SECONDS,
    }),
    streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
  });
  return { queue, conn };
}

async function bareRound(o: RoundOptions, prefix: string, concurrency: number): Promise<RoundResult> {
  const config = benchConfig(prefix);
  const { queue, conn } = producer(prefix, config);
  const worker = new Worker(BENCH_QUEUE, bareProcessor(o.work), {
    connection: bullConnection(BENCH_REDIS_URL) as never,
    prefix,
    concurrency,
  });
  await worker.waitUntilReady();
  const fin = finishedOn([worker], o.jobs);
  const t0 = Date.now();
  await enqueueAll(queue, o.jobs);
  const t1 = await fin.done;
  await worker.close();
  await queue.close();
  conn.disconnect();
  const ms = t1 - t0;
  return { side: o.side, jobs: o.jobs, ms, jobsPerSec: (o.jobs * 1000) / ms, failed: fin.failed() };
}

async function trackedRound(o: RoundOptions, prefix: string, concurrency: number): Promise<RoundResult> {
  const mongoDb = o.side === 'tracked-mongo' ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  if (o.side === 'tracked-mongo' && !process.env.MONGO_URL) throw new Error('MONGO_URL is not set');
  const config = benchConfig(prefix, {
    WORKER_CONCURRENCY: String(concurrency),
    ...(mongoDb ? { MONGO_URL: process.env.MONGO_URL!, MONGO_DB: mongoDb } : { MONGO_URL: '' }),
    ...(o.side === 'pool-only' || o.side === 'tracked-split' ? { ROLES: 'worker' } : {}),
  });
  const trackerProcess = o.side === 'tracked-split' ? await startRoleProcess(prefix, 'monitor') : null;
  const sys = await startSystem(config, benchLogger(), {
    processors: { bench: trackedProcessor(o.work) },
  });
  try {
    const tracker = sys.tracker;
    const workers = sys.workers!.workers;
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    // A run counts when its final record is written (the recorder's or the reconciler's write), not when
    // the worker finished it: lag = write time - job.finishedOn (ended_at).
    // Kept cheap (it runs on the measured side only): BullMQ's job ids here are 1..jobs, so "already
    // counted" is a byte per run (a Set for any other id), and times are parsed into lags after the round.
    const endAt: number[] = [];
    const endedAt: (string | null | undefined)[] = [];
    const seen = new Uint8Array(o.jobs + 2);
    const seenOther = new Set<string>();
    let recordedCount = 0;
    let lastRecordedAt = 0;
    const firstTime = (id: string): boolean => {
      const n = Number(id);
      if (Number.isInteger(n) && n > 0 && n < seen.length) {
        if (seen[n]) return false;
        seen[n] = 1;
        return true;
      }
      if (seenOther.has(id)) return false;
      seenOther.add(id);
      return true;
    };
    const watch = (updates: readonly RunUpdate[]) => {
      const now = Date.now();
      for (let i = 0; i < updates.length; i++) {
        const u = updates[i];
        const st = u.patch.status;
        if ((st === 'completed' || st === 'failed' || st === 'skipped') && firstTime(u.run_id)) {
          recordedCount++;
          lastRecordedAt = now;
          endAt.push(now);
          endedAt.push(u.patch.ended_at);
        }
      }
    };
    sys.recorder?.onApplied(watch);
    tracker?.onApplied(watch);
    const fin = finishedOn(workers, o.jobs);
    const { queue, conn } = producer(new RedisKeys(prefix).queuePrefix(BENCH_QUEUE), config);
    await queue.waitUntilReady();
    const t0 = Date.now();
    await enqueueAll(queue, o.jobs);
    const t1 = await fin.done;
    await queue.close();
    conn.disconnect();
    while (recordedCount < o.jobs && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 2));
    if (recordedCount < o.jobs) throw new Error(`only ${recordedCount} of ${o.jobs} runs recorded`);
    const t2 = lastRecordedAt;
    const ms = t2 - t0;
    const lags: number[] = [];
    for (let i = 0; i < endAt.length; i++) if (endedAt[i]) lags.push(endAt[i] - Date.parse(endedAt[i]!));
    return {
      side: o.side,
      jobs: o.jobs,
      ms,
      jobsPerSec: (o.jobs * 1000) / ms,
      storeIdleMs: t2 - t0,
      workersDoneMs: t1 - t0,
      lagsMs: lags,
      failed: fin.failed(),
    };
  } finally {
    await sys.stop();
    if (trackerProcess) await stopProcess(trackerProcess);
    if (mongoDb) {
      const client = new MongoClient(process.env.MONGO_URL!);
      await client.connect();
      await client.db(mongoDb).dropDatabase();
      await client.close();
    }
  }
}
