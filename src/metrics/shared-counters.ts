import type { Redis } from 'ioredis';
import { FINISHED_STATUSES, type RunUpdate } from '../monitor/run';
import { RedisKeys } from '../queues/redis-keys';
import { defineScript } from '../queues/redis';

/** Buckets of job_run_duration_seconds. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600] as const;
const FINISHED = new Set<string>(FINISHED_STATUSES);
const SEP = '\t';

/**
 * One call per batch: the client has already summed the batch per field (runs per job+status, per job the
 * duration sum, count and runs per bucket), so Redis does one HINCRBY per distinct field, not per run.
 * ARGV: n run fields, then pairs (field, increment) for KEYS[1], then pairs for KEYS[2]; floats use
 * HINCRBYFLOAT. Buckets are stored per bucket (not cumulative) and summed up when read.
 */
const COUNT_RUNS_LUA = `local n = tonumber(ARGV[1])
local i = 2
for _ = 1, n do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) i = i + 2 end
while i <= #ARGV do
  local f, v = ARGV[i], ARGV[i + 1]
  if string.sub(f, -4) == '\tsum' then redis.call('HINCRBYFLOAT', KEYS[2], f, v)
  else redis.call('HINCRBY', KEYS[2], f, v) end
  i = i + 2
end
return 1`;

/** Per-job duration histogram as read back from Redis (cumulative bucket counts). */
export interface DurationSeries {
  job_id: string;
  buckets: Record<string, number>;
  sum: number;
  count: number;
}

/**
 * Counters that must agree whichever process is scraped, kept in Redis: finished runs (counted once per
 * run_id whichever tracker sees the update first), run durations, alert outcomes, and the stuck gauge the
 * lock-holding monitor writes after each scan.
 */
export class SharedCounters {
  private readonly k: { runs: string; durations: string; alerts: string; stuck: string };
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
    defineScript(redis, 'jmCountRuns', { numberOfKeys: 2, lua: COUNT_RUNS_LUA });
    this.k = {
      runs: this.keys.metric('runs'),
      durations: this.keys.metric('durations'),
      alerts: this.keys.metric('alerts'),
      stuck: this.keys.metric('stuck'),
    };
  }

  /**
   * Counts the runs that finished in a batch of stored updates (a recorder's or the reconciler's listener):
   * one Lua call per batch. Each run is counted by the one writer that stored its end; a run whose worker
   * was slower than the reconciler's grace may be counted twice (rare; counters are rates).
   */
  async recordRuns(updates: readonly RunUpdate[]): Promise<void> {
    const runs = new Map<string, number>();
    const durations = new Map<string, number>();
    const add = (m: Map<string, number>, f: string, v: number) => m.set(f, (m.get(f) ?? 0) + v);
    for (const u of updates) {
      const status = u.patch.status;
      if (!status || !FINISHED.has(status)) continue;
      const job = u.identity.job_id;
      add(runs, job + SEP + status, 1);
      if (typeof u.patch.duration_ms !== 'number') continue;
      const secs = u.patch.duration_ms / 1000;
      add(durations, job + SEP + 'sum', secs);
      add(durations, job + SEP + 'count', 1);
      const bucket = DURATION_BUCKETS.find((b) => secs <= b);
      add(durations, job + SEP + (bucket === undefined ? '+Inf' : String(bucket)), 1);
    }
    if (!runs.size) return;
    const args: (string | number)[] = [runs.size];
    for (const [f, v] of runs) args.push(f, v);
    for (const [f, v] of durations) args.push(f, v);
    // EVALSHA (defineCommand): the script is sent once per connection, not with every batch.
    const count = (this.redis as unknown as { jmCountRuns: (...a: (string | number)[]) => Promise<number> })
      .jmCountRuns;
    await count.call(this.redis, this.k.runs, this.k.durations, ...args);
  }

  /** job_runs_total: `{job_id, status, value}` rows. */
  async readRuns(): Promise<{ job_id: string; status: string; value: number }[]> {
    const hash = await this.redis.hgetall(this.k.runs);
    return Object.entries(hash).map(([f, v]) => {
      const [job_id, status] = f.split(SEP);
      return { job_id, status, value: Number(v) };
    });
  }

  async readDurations(): Promise<DurationSeries[]> {
    const hash = await this.redis.hgetall(this.k.durations);
    const byJob = new Map<string, DurationSeries>();
    for (const [f, v] of Object.entries(hash)) {
      const [job_id, part] = f.split(SEP);
      let s = byJob.get(job_id);
      if (!s) {
        s = { job_id, buckets: {}, sum: 0, count: 0 };
        byJob.set(job_id, s);
      }
      if (part === 'sum') s.sum = Number(v);
      else if (part === 'count') s.count = Number(v);
      else s.buckets[part] = Number(v);
    }
    // Stored per bucket; Prometheus wants cumulative counts (le).
    for (const s of byJob.values()) {
      let total = 0;
      const cumulative: Record<string, number> = {};
      for (const b of DURATION_BUCKETS) {
        total += s.buckets[String(b)] ?? 0;
        cumulative[String(b)] = total;
      }
      s.buckets = cumulative;
    }
    return [...byJob.values()];
  }

  /** alerts_sent_total. */
  async recordAlert(rule: string, channel: string, outcome: string): Promise<void> {
    await this.redis.hincrby(this.k.alerts, [rule, channel, outcome].join(SEP), 1);
  }

  async readAlerts(): Promise<{ rule: string; channel: string; outcome: string; value: number }[]> {
    const hash = await this.redis.hgetall(this.k.alerts);
    return Object.entries(hash).map(([f, v]) => {
      const [rule, channel, outcome] = f.split(SEP);
      return { rule, channel, outcome, value: Number(v) };
    });
  }

  /** Replaces the jobs_stuck gauge; it expires after `ttlMs` if no monitor writes it again. */
  async setStuck(byJob: Record<string, number>, ttlMs: number): Promise<void> {
    const tx = this.redis.multi().del(this.k.stuck);
    const entries = Object.entries(byJob);
    if (entries.length)
      tx.hset(this.k.stuck, Object.fromEntries(entries)).pexpire(this.k.stuck, Math.round(ttlMs));
    await tx.exec();
  }

  async readStuck(): Promise<Record<string, number>> {
    const hash = await this.redis.hgetall(this.k.stuck);
    return Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]));
  }
}
