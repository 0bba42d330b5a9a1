import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { QueueDepth, WorkerInfo, WorkersSource } from '../monitor/workers';
import type { QueueSet } from '../queues/queue-set';
import { RedisKeys } from '../queues/redis-keys';
import type { RecorderBeat } from '../queues/redis-recording-gaps';

/** A worker is gone once it missed this many heartbeats. */
export const MISSED_HEARTBEATS = 3;

let cachedVersion: string | undefined;
/** The `version` of the project's package.json ("unknown" when it can't be read). */
export function packageVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const file = join(__dirname, '..', '..', 'package.json');
      cachedVersion = String(
        (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown',
      );
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

export interface HeartbeatOptions {
  redis: Redis;
  /** QUEUE_PREFIX; keys from {@link RedisKeys.workers} and {@link RedisKeys.worker}. */
  prefix: string;
  /** The worker's name (WorkerPool.name, `host:pid`). */
  id: string;
  queues: readonly string[];
  concurrency: number;
  /** Run ids in progress now (WorkerPool.activeRunIds). */
  activeRuns: () => readonly string[];
  /** Seconds between beats (WORKER_HEARTBEAT_SECONDS). */
  intervalMs: number;
  logger: Logger;
  /**
   * The process's run recorder: each beat also writes how far its ends are stored (RedisKeys.recorders), so
   * that if the process dies the reconciler records what its buffer held; a clean stop with nothing left
   * unstored removes the entry.
   */
  recorder?: { storedThrough(): number; unsettled(): boolean; bufferedRuns(): number };
}

/**
 * A worker process's heartbeat: every `intervalMs` it writes what the process is (host, pid, queues,
 * concurrency, version) and what it is doing (the run ids in progress) to `{jm}:jm:worker:<id>` with a TTL of
 * {@link MISSED_HEARTBEATS} intervals, and scores its id in `{jm}:jm:workers` with that expiry. A process that
 * stops beating (killed, hung, partitioned) drops out by itself; a clean stop removes it at once.
 */
export class WorkerHeartbeat {
  private readonly keys: RedisKeys;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();
  private failing = false;

  constructor(private readonly o: HeartbeatOptions) {
    this.keys = new RedisKeys(o.prefix);
  }

  /** Beats once (awaited, so the worker is listed when start resolves), then every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.o.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops beating and removes the worker from the list. Its recorder entry goes too unless the recorder still
   * holds updates it could not store: that entry then stops beating, and the reconciler records those runs.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const tx = this.o.redis.multi().del(this.keys.worker(this.o.id)).zrem(this.keys.workers, this.o.id);
    if (this.o.recorder?.unsettled()) {
      this.o.logger.warn(
        { unstored_runs: this.o.recorder.bufferedRuns() },
        'worker_stopped_with_unstored_runs',
      );
    } else tx.hdel(this.keys.recorders, this.o.id);
    await tx.exec().catch((err) => this.o.logger.warn({ err }, 'worker_heartbeat_remove_failed'));
  }

  /** Writes one heartbeat now. Errors are logged once per outage, never thrown. */
  async beat(): Promise<void> {
    const now = Date.now();
    const ttl = this.o.intervalMs * MISSED_HEARTBEATS;
    const runs = [...this.o.activeRuns()];
    const info: WorkerInfo = {
      id: this.o.id,
      host: hostname(),
      pid: process.pid,
      queues: [...this.o.queues],
      concurrency: this.o.concurrency,
      active: runs.length,
      runs,
      started_at: this.startedAt,
      last_seen_at: new Date(now).toISOString(),
      version: packageVersion(),
    };
    try {
      const tx = this.o.redis
        .multi()
        .set(this.keys.worker(this.o.id), JSON.stringify(info), 'PX', ttl)
        .zadd(this.keys.workers, now + ttl, this.o.id);
      if (this.o.recorder) {
        const beat: RecorderBeat = {
          queues: [...this.o.queues],
          stored_through: this.o.recorder.storedThrough(),
          beat_at: now,
          interval_ms: this.o.intervalMs,
        };
        tx.hset(this.keys.recorders, this.o.id, JSON.stringify(beat));
      }
      await tx.exec();
      if (this.failing) this.o.logger.info({}, 'worker_heartbeat_recovered');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.o.logger.warn({ err }, 'worker_heartbeat_failed');
      this.failing = true;
    }
  }
}

/** Reads the live workers' heartbeats and the queues' depths from Redis and BullMQ. */
export class RedisWorkersSource implements WorkersSource {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly queues: QueueSet,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  async workers(): Promise<WorkerInfo[]> {
    const now = Date.now();
    // Ids whose heartbeat expired are forgotten; the rest are read (a key may still expire in between).
    await this.redis.zremrangebyscore(this.keys.workers, '-inf', String(now));
    const ids = await this.redis.zrange(this.keys.workers, '0', '-1');
    if (!ids.length) return [];
    const values = await this.redis.mget(...ids.map((id) => this.keys.worker(id)));
    const out: WorkerInfo[] = [];
    for (const v of values) {
      if (!v) continue;
      try {
        out.push(JSON.parse(v) as WorkerInfo);
      } catch {
        // A value nobody but a heartbeat writes; an unreadable one is skipped.
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async depths(): Promise<QueueDepth[]> {
    const all = [...this.queues.all()].sort((a, b) => a.name.localeCompare(b.name));
    return Promise.all(
      all.map(async (q) => {
        const c = await q.getJobCounts(
          'waiting',
          'delayed',
          'active',
          'failed',
          'prioritized',
          'waiting-children',
        );
        return {
          queue: q.name,
          waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0),
          delayed: c.delayed ?? 0,
          active: c.active ?? 0,
          failed: c.failed ?? 0,
        };
      }),
    );
  }
}
