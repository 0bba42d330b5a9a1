import type { ChainableCommander, Redis } from 'ioredis';
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type JobRun,
  RUN_RETENTION_SECONDS,
  RUN_STATUSES,
  type RunLog,
  type RunStatus,
  type RunUpdate,
} from '../monitor/run';
import {
  DEFAULT_STATS_SAMPLE,
  decodeCursor,
  encodeCursor,
  type FinishedRunSample,
  type RunStatsSample,
  pageSize,
  type RunPage,
  type RunQuery,
  type RunStore,
} from '../monitor/run-store';
import { APPLY_UPDATES_LUA } from './redis-run-store-lua';

type ApplyCommand = (idxSet: string, ...args: (string | number)[]) => Promise<number>;

/** Updates per Lua call: big enough to amortise the call, small enough not to block Redis for long. */
const APPLY_CHUNK = 200;

/**
 * Runs a pipeline or transaction and returns its replies. ioredis reports errors per command (a pipeline
 * "succeeds" with `[err, undefined]` entries when Redis is away); this throws the first one instead, so
 * an outage surfaces as the connection error (→ 503 in the API, a retry in the tracker), never a TypeError.
 */
async function execAll(p: ChainableCommander): Promise<unknown[]> {
  const res = await p.exec();
  if (!res) throw new Error('Redis transaction aborted');
  for (const [err] of res) if (err) throw err;
  return res.map(([, v]) => v);
}

const JSON_FIELDS = [
  'job_id',
  'queue',
  'status',
  'progress',
  'total_items',
  'processed_items',
  'created_at',
  'started_at',
  'ended_at',
  'duration_ms',
  'trigger',
  'user_id',
  'attempts',
  'stalls',
  'worker',
  'error_message',
  'result',
] as const;

/** One update as the JSON array of strings APPLY_UPDATES_LUA reads. */
function encodeUpdate(u: RunUpdate): string {
  const id = u.identity;
  const created = Date.parse(id.created_at) || Date.now();
  const patch = u.patch as Record<string, unknown>;
  let nPatch = 0;
  for (const k in patch) if (patch[k] !== undefined) nPatch++;
  const args: string[] = [u.run_id, u.seq, String(created), '5', String(nPatch), String(u.logs.length)];
  args.push(
    'job_id',
    JSON.stringify(id.job_id),
    'queue',
    JSON.stringify(id.queue),
    'created_at',
    JSON.stringify(id.created_at),
    'trigger',
    JSON.stringify(id.trigger),
    'user_id',
    JSON.stringify(id.user_id),
  );
  for (const k in patch) if (patch[k] !== undefined) args.push(k, JSON.stringify(patch[k]));
  for (const l of u.logs) {
    args.push(l.seq ?? '', JSON.stringify({ time: l.time, level: l.level, message: l.message }));
  }
  return JSON.stringify(args);
}

export interface RedisRunStoreOptions {
  /** Key prefix; every key of the store starts with `${prefix}:runs:`. Use a hash tag (`{jm}`) for Cluster. */
  prefix: string;
  retentionSeconds?: number;
}

/**
 * RunStore on Redis, used when MONGO_URL is unset. A run is a hash (JSON-encoded fields) plus a capped
 * list of its last 50 logs; sorted sets scored by created_at index it by job, status, job+status, user
 * and trigger, so every query reads an index instead of scanning. Every key expires after the retention
 * (7 days) and index entries older than that are trimmed, so nothing grows without bound.
 */
export class RedisRunStore implements RunStore {
  private readonly base: string;
  private readonly retentionMs: number;
  private lastTrim = 0;

  constructor(
    private readonly redis: Redis,
    opts: RedisRunStoreOptions,
  ) {
    this.base = `${opts.prefix}:runs:`;
    this.retentionMs = (opts.retentionSeconds ?? RUN_RETENTION_SECONDS) * 1000;
    if (!(redis as unknown as { jmApplyRuns?: unknown }).jmApplyRuns) {
      redis.defineCommand('jmApplyRuns', { numberOfKeys: 1, lua: APPLY_UPDATES_LUA });
    }
  }

  private runKey(id: string) {
    return `${this.base}r:${id}`;
  }
  private logKey(id: string) {
    return `${this.base}l:${id}`;
  }
  private idx(name: string) {
    return `${this.base}i:${name}`;
  }

  async init(): Promise<void> {
    await this.redis.ping();
  }

  /**
   * Writes the updates with one Lua call per {@link APPLY_CHUNK} updates, all in one pipeline (one round
   * trip). Each update is atomic and idempotent on its own; see {@link RunUpdate}.
   */
  async apply(updates: RunUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const pipeline = this.redis.pipeline();
    const apply = (pipeline as unknown as { jmApplyRuns: ApplyCommand }).jmApplyRuns.bind(pipeline);
    for (let start = 0; start < updates.length; start += APPLY_CHUNK) {
      const chunk = updates.slice(start, start + APPLY_CHUNK);
      const args: (string | number)[] = [this.base, this.retentionMs];
      for (const u of chunk) args.push(encodeUpdate(u));
      apply(this.idx('_registry'), ...args);
    }
    await execAll(pipeline);
    await this.trimIndexes();
  }

  async get(runId: string): Promise<JobRun | null> {
    const [hash, logs] = (await execAll(
      this.redis.multi().hgetall(this.runKey(runId)).lrange(this.logKey(runId), 0, -1),
    )) as [Record<string, string>, string[]];
    if (!hash || Object.keys(hash).length === 0) return null;
    return this.decode(runId, hash, logs);
  }

  async list(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const statuses = query.status?.length ? query.status : undefined;
    // Pick the most selective index; the remaining filters are applied to what it returns.
    let keys: string[];
    // A user's runs are usually fewer than a job's, so the user index wins over the job index.
    if (query.job_id && statuses) keys = statuses.map((s) => this.idx(`js:${query.job_id}:${s}`));
    else if (query.user_id) keys = [this.idx(`user:${query.user_id}`)];
    else if (query.job_id) keys = [this.idx(`job:${query.job_id}`)];
    else if (statuses) keys = statuses.map((s) => this.idx(`status:${s}`));
    else if (query.trigger) keys = [this.idx(`trigger:${query.trigger}`)];
    else keys = [this.idx('all')];

    // Walk the candidate indexes newest first from the cursor position, filling the page.
    let pos = query.cursor ? decodeCursor(query.cursor) : null;
    const min = query.since !== undefined ? String(query.since) : '-inf';
    const chunk = Math.max(limit + 1, 50);
    const out: JobRun[] = [];
    const top = query.before !== undefined ? `(${query.before}` : '+inf';
    for (let round = 0; round < 10_000 && out.length <= limit; round++) {
      const max = pos
        ? query.before !== undefined && query.before <= pos.createdAtMs
          ? top
          : String(pos.createdAtMs)
        : top;
      // Entries with the cursor's own score may precede it; ask for enough to get past them.
      const ties = pos ? await this.countAtScore(keys, pos.createdAtMs) : 0;
      const batch: { id: string; score: number }[] = [];
      const fetch = this.redis.pipeline();
      for (const key of keys)
        fetch.zrange(key, max, min, 'BYSCORE', 'REV', 'LIMIT', 0, chunk + ties, 'WITHSCORES');
      for (const raw of await execAll(fetch)) {
        const r = raw as string[];
        for (let i = 0; i < r.length; i += 2) batch.push({ id: r[i], score: Number(r[i + 1]) });
      }
      const p = pos;
      const page = batch
        .filter((c) => !p || c.score < p.createdAtMs || (c.score === p.createdAtMs && c.id < p.runId))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, chunk);
      if (page.length === 0) break;
      const read = this.redis.pipeline();
      for (const c of page) read.hgetall(this.runKey(c.id));
      const hashes = await execAll(read);
      for (let i = 0; i < page.length && out.length <= limit; i++) {
        const hash = hashes[i] as Record<string, string>;
        pos = { createdAtMs: page[i].score, runId: page[i].id };
        if (!hash || Object.keys(hash).length === 0) continue; // expired; its index entry is trimmed later
        const run = this.decode(page[i].id, hash, []);
        if (query.user_id && run.user_id !== query.user_id) continue;
        if (query.trigger && run.trigger !== query.trigger) continue;
        if (statuses && !statuses.includes(run.status)) continue;
        if (query.job_id && run.job_id !== query.job_id) continue;
        out.push(run);
      }
      if (page.length < chunk) break;
    }
    const runs = out.slice(0, limit);
    const last = runs[runs.length - 1];
    const next_cursor = out.length > limit && last ? encodeCursor(this.scoreOf(last), last.run_id) : null;
    return { runs, next_cursor };
  }

  /**
   * Counts come from ZCOUNT on the job+status indexes (O(log n)); the finished sample reads at most
   * `sample` ids from each finished-status index and one HMGET per kept run, all pipelined.
   */
  async stats(jobId: string, since: number, sample = DEFAULT_STATS_SAMPLE): Promise<RunStatsSample> {
    const finishedStatuses = FINISHED_STATUSES;
    const p = this.redis.pipeline();
    for (const s of RUN_STATUSES) p.zcount(this.idx(`js:${jobId}:${s}`), since, '+inf');
    for (const s of finishedStatuses)
      p.zrange(
        this.idx(`js:${jobId}:${s}`),
        '+inf',
        String(since),
        'BYSCORE',
        'REV',
        'LIMIT',
        0,
        sample,
        'WITHSCORES',
      );
    const res = await execAll(p);
    const counts = {} as Record<RunStatus, number>;
    RUN_STATUSES.forEach((s, i) => {
      counts[s] = Number(res[i]);
    });
    const ids: { id: string; score: number }[] = [];
    for (let i = RUN_STATUSES.length; i < res.length; i++) {
      const r = res[i] as string[];
      for (let j = 0; j < r.length; j += 2) ids.push({ id: r[j], score: Number(r[j + 1]) });
    }
    ids.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
    const keep = ids.slice(0, sample);
    const read = this.redis.pipeline();
    for (const c of keep) read.hmget(this.runKey(c.id), 'status', 'created_at', 'duration_ms');
    const hashes = await execAll(read);
    const finished: FinishedRunSample[] = [];
    keep.forEach((c, i) => {
      const [status, created, duration] = (hashes[i] ?? []) as (string | null)[];
      if (!status || !created) return; // expired meanwhile
      finished.push({
        run_id: c.id,
        status: JSON.parse(status),
        created_at: JSON.parse(created),
        duration_ms: duration ? JSON.parse(duration) : null,
      });
    });
    return { counts, finished };
  }

  private async countAtScore(keys: string[], score: number): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.zcount(key, score, score);
    const res = await execAll(pipeline);
    return res.reduce((n: number, c) => n + Number(c), 0);
  }

  async countActive(): Promise<Record<string, number>> {
    const ids = new Set<string>();
    for (const status of ACTIVE_STATUSES) {
      for (const id of await this.redis.zrange(this.idx(`status:${status}`), '0', '-1')) ids.add(id);
    }
    const list = [...ids];
    const out: Record<string, number> = {};
    for (let i = 0; i < list.length; i += 500) {
      const read = this.redis.pipeline();
      for (const id of list.slice(i, i + 500)) read.hmget(this.runKey(id), 'job_id', 'status');
      for (const raw of await execAll(read)) {
        const [job, status] = raw as (string | null)[];
        // Skip runs that expired or changed status since the index read.
        if (!job || !status || !ACTIVE_STATUSES.includes(JSON.parse(status))) continue;
        const jobId = JSON.parse(job) as string;
        out[jobId] = (out[jobId] ?? 0) + 1;
      }
    }
    return out;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    // The Redis connection belongs to the caller (composition root).
  }

  /** Drops index entries older than the retention, at most once a minute. */
  private async trimIndexes(): Promise<void> {
    const now = Date.now();
    if (now - this.lastTrim < 60_000) return;
    this.lastTrim = now;
    const registry = this.idx('_registry');
    const keys = await this.redis.smembers(registry);
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.zremrangebyscore(key, '-inf', now - this.retentionMs);
    for (const key of keys) pipeline.exists(key);
    const res = await execAll(pipeline);
    const gone = keys.filter((_, i) => res[keys.length + i] === 0);
    if (gone.length) await this.redis.srem(registry, ...gone);
  }

  private scoreOf(run: JobRun): number {
    return (run as JobRun & { created_ms?: number }).created_ms ?? Date.parse(run.created_at);
  }

  private decode(runId: string, hash: Record<string, string>, logs: string[]): JobRun {
    const run: Record<string, unknown> = { run_id: runId };
    for (const f of JSON_FIELDS) run[f] = hash[f] === undefined ? null : JSON.parse(hash[f]);
    run.seq = hash.seq ?? '';
    run.progress = run.progress ?? 0;
    run.attempts = run.attempts ?? 0;
    run.stalls = run.stalls ?? 0;
    run.logs = logs.map((l) => JSON.parse(l) as RunLog);
    return run as unknown as JobRun;
  }
}
