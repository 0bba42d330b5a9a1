import type { Redis } from 'ioredis';
import { FINISHED_STATUSES, RUN_RETENTION_SECONDS, type RunUpdate } from '../monitor/run';

/** Buckets of job_run_duration_seconds. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600] as const;
const FINISHED = new Set<string>(FINISHED_STATUSES);
const SEP = '\t';

const COUNT_RUN_LUA = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2] .. '\\t' .. ARGV[3], 1)
if ARGV[4] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[2] .. '\\tsum', ARGV[4])
  redis.call('HINCRBY', KEYS[3], ARGV[2] .. '\\tcount', 1)
  for i = 5, #ARGV do redis.call('HINCRBY', KEYS[3], ARGV[2] .. '\\t' .. ARGV[i], 1) end
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
  private readonly k: { runs: string; durations: string; alerts: string; stuck: string; counted: string };

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    const base = `${prefix}:metrics:`;
    this.k = {
      runs: `${base}runs`,
      durations: `${base}durations`,
      alerts: `${base}alerts`,
      stuck: `${base}stuck`,
      counted: `${base}counted:`,
    };
  }

  /** Counts the runs that finished in a batch of stored updates (tracker listener). */
  async recordRuns(updates: readonly RunUpdate[]): Promise<void> {
    const finished = updates.filter((u) => u.patch.status && FINISHED.has(u.patch.status));
    if (!finished.length) return;
    const pipeline = this.redis.pipeline();
    for (const u of finished) {
      const secs = typeof u.patch.duration_ms === 'number' ? u.patch.duration_ms / 1000 : null;
      const buckets = secs === null ? [] : DURATION_BUCKETS.filter((b) => secs <= b).map(String);
      pipeline.eval(
        COUNT_RUN_LUA,
        3,
        this.k.counted + u.run_id,
        this.k.runs,
        this.k.durations,
        RUN_RETENTION_SECONDS * 1000,
        u.identity.job_id,
        u.patch.status as string,
        secs === null ? '' : String(secs),
        ...buckets,
      );
    }
    const res = (await pipeline.exec()) ?? [];
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
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
