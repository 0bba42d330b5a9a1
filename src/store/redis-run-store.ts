import { type ChainableCommander, type Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import {
  ACTIVE_STATUSES,
  type RunPatch,
  type AttemptRecord,
  DEFAULT_RUN_RESULT_MAX_BYTES,
  isMarksOnly,
  MAX_RUN_ATTEMPTS,
  newRun,
  FINISHED_STATUSES,
  type JobRun,
  RUN_RETENTION_SECONDS,
  RUN_STATUSES,
  type RunLog,
  type RunStatus,
  prepareUpdate,
  type RunUpdate,
  trackingErrorUpdate,
} from '../monitor/run';
import {
  DEFAULT_STATS_SAMPLE,
  decodeCursor,
  encodeCursor,
  type FinishedRunSample,
  pageSize,
  type RunStatsSample,
  type RunPage,
  type RunQuery,
  type RunStore,
} from '../monitor/run-store';
import { base36Ms, decimalMs, isoFromMs, msFromCanonicalIso } from '../monitor/iso-time';
import { RedisKeys } from '../queues/redis-keys';
import { defineScript } from '../queues/redis';
import {
  APPLY_UPDATES_LUA,
  MERGE_LUA,
  READ_RUNS_LUA,
  RUN_STATUSES_LUA,
  TRIM_LUA,
} from './redis-run-store-lua';

type ReadCommand = (numKeys: number, ...keys: string[]) => Promise<string[][]>;
type StatusesCommand = (numKeys: number, ...keys: string[]) => Promise<(string | null)[]>;

type ApplyCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<number>;

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

/**
 * The run hash's field names: short, because every byte is paid once per run (#16). Null fields are not
 * stored (absent means null, or the default 0/false); `@<n>` holds attempt n of `attempts_log`.
 */
const FIELD = {
  job_id: 'j',
  queue: 'q',
  trigger: 't',
  user_id: 'u',
  retry_of: 'ro',
  triggered_by: 'tb',
  status: 's',
  progress: 'p',
  total_items: 'ti',
  processed_items: 'pi',
  started_at: 'sa',
  ended_at: 'ea',
  duration_ms: 'd',
  attempts: 'a',
  stalls: 'st',
  worker: 'w',
  error_message: 'em',
  error_stack: 'es',
  result: 'r',
  stuck: 'k',
  stuck_reason: 'kr',
  stuck_since: 'ks',
  retried_by: 'rb',
} as const;
type Stored = keyof typeof FIELD;
const TIME_FIELDS = new Set<string>(['started_at', 'ended_at', 'stuck_since']);
const NUMBER_FIELDS = new Set<string>([
  'progress',
  'total_items',
  'processed_items',
  'duration_ms',
  'attempts',
  'stalls',
]);

/** A time as stored: canonical ISO times as base-36 ms (8 characters instead of 24), others as `~<text>`. */
function encodeTime(v: string): string {
  const ms = msFromCanonicalIso(v);
  return ms >= 0 ? base36Ms(ms) : `~${v}`;
}
function decodeTime(v: string): string {
  return v.startsWith('~') ? v.slice(1) : isoFromMs(Number.parseInt(v, 36));
}

/** A field's value as the plain string the hash keeps (null is never stored: the field is deleted). */
function encodeValue(field: string, v: unknown): string {
  if (field === 'result') return JSON.stringify(v);
  if (field === 'stuck') return '1';
  if (TIME_FIELDS.has(field)) return encodeTime(String(v));
  return String(v);
}

function decodeValue(field: string, v: string): unknown {
  if (field === 'result') return JSON.parse(v);
  if (field === 'stuck') return v === '1';
  if (TIME_FIELDS.has(field)) return decodeTime(v);
  if (NUMBER_FIELDS.has(field)) return Number(v);
  return v;
}

/** An attempt record as one short string (under the hash's listpack value limit for a normal attempt). */
function encodeAttempt(a: AttemptRecord, patch?: RunPatch, sa?: string, ea?: string): string {
  // JSON of [start, end, worker, outcome, error]; the times (base 36 or `~text`) are quoted like any string.
  const s = JSON.stringify(attemptTime(a.started_at, patch?.started_at, sa));
  const e = JSON.stringify(attemptTime(a.ended_at, patch?.ended_at, ea));
  const w = a.worker === null ? 'null' : JSON.stringify(a.worker);
  const err = a.error === null ? 'null' : JSON.stringify(a.error);
  return `[${s},${e},${w},${JSON.stringify(a.outcome)},${err}]`;
}
/**
 * A first attempt that succeeded, written with the run's own start, end and worker (most runs): the run's
 * fields say all of it, so its record is stored empty; {@link decodeRun} fills it in from them.
 */
function impliedAttempt(a: AttemptRecord, p: RunPatch): boolean {
  return (
    a.attempt === 1 &&
    (a.outcome === 'completed' || a.outcome === 'skipped') &&
    p.status === a.outcome &&
    a.error === null &&
    a.worker === p.worker &&
    a.started_at === p.started_at &&
    a.ended_at === p.ended_at
  );
}

/** The attempt {@link impliedAttempt} stored empty, from the run's fields. */
function attemptFromRun(run: JobRun): AttemptRecord {
  return {
    attempt: 1,
    started_at: run.started_at,
    ended_at: run.ended_at,
    worker: run.worker,
    outcome: run.status as AttemptRecord['outcome'],
    error: null,
  };
}

/** An attempt's time as stored: usually the same text as the update's own start or end, encoded already. */
function attemptTime(v: string | null, same?: string | null, encoded?: string): string {
  if (v === null) return '';
  return v === same && encoded !== undefined ? encoded : encodeTime(v);
}
function decodeAttempt(n: number, v: string): AttemptRecord {
  const [s, e, worker, outcome, error] = JSON.parse(v) as [
    string,
    string,
    string | null,
    string,
    string | null,
  ];
  return {
    attempt: n,
    started_at: s ? decodeTime(s) : null,
    ended_at: e ? decodeTime(e) : null,
    worker,
    outcome: outcome as AttemptRecord['outcome'],
    error,
  };
}

/** Lowercased, trimmed: how `RunQuery.q` compares. */
const norm = (s: string) => s.trim().toLowerCase();
/** True when {@link norm} would change `s` (uppercase or surrounding space; anything past ASCII to be safe). */
const needsNorm = (s: string) => /[^a-z0-9_\-.:@/]/.test(s) && norm(s) !== s;
/** The patch fields the store keeps, in one fixed order (property reads beat a for-in on the hot path). */
const PATCH_FIELDS = [
  'status',
  'progress',
  'total_items',
  'processed_items',
  'started_at',
  'ended_at',
  'duration_ms',
  'attempts',
  'stalls',
  'worker',
  'error_message',
  'error_stack',
  'result',
] as const satisfies readonly Stored[];
const NO_MARKS = Object.freeze({});

/**
 * One update as the two JSON arrays of strings APPLY_UPDATES_LUA reads (see its header): the head, and the
 * record pairs (identity, then patch) — exactly the field/value pairs a new run stores, so a run created
 * finished is stored as that JSON text itself. Built in one pass: the counts in the head are filled in as
 * each section is written.
 */
export function encodeUpdate(u: RunUpdate): [head: string[], pairs: string[]] {
  const id = u.identity;
  const t = u.times;
  const created =
    t?.created ?? (msFromCanonicalIso(id.created_at) || Date.parse(id.created_at) || Date.now());
  const createdText = decimalMs(created);
  const out: string[] = [
    u.run_id,
    u.seq,
    createdText,
    isMarksOnly(u) ? '1' : '',
    '', // [5] identity strings
    '', // [6] patch strings
    '', // [7] patch nulls
    '', // [8] log pairs
    '', // [9] mark pairs
    '', // [10] mark nulls
    u.attempt ? String(u.attempt.attempt) : '',
    '', // [12] search terms
    '', // [13] status in the patch
    '', // [14] duration_ms in the patch
    '', // [15] attempts in the patch
    '', // [16] started_at in the patch (encoded)
    id.job_id,
    id.trigger,
    id.user_id !== null && id.user_id !== undefined ? `u${id.user_id}` : '', // [19] (an empty id is one)
  ];
  // Identity (written only when the run is created): job, queue, trigger first, the creation time last.
  const pairs: string[] = ['j', id.job_id, 'q', id.queue, 't', id.trigger];
  if (id.user_id !== null && id.user_id !== undefined) pairs.push('u', id.user_id);
  if (id.retry_of) pairs.push('ro', id.retry_of);
  if (id.triggered_by) pairs.push('tb', id.triggered_by);
  pairs.push('c', createdText);
  const nIdentity = pairs.length;
  out[4] = String(nIdentity);
  // Patch (written when the update is newer), its seq, and the attempt record last.
  const patch = u.patch as Record<string, unknown>;
  let sa: string | undefined;
  let ea: string | undefined;
  let nulls: string[] | null = null;
  for (let i = 0; i < PATCH_FIELDS.length; i++) {
    const k = PATCH_FIELDS[i];
    const v = patch[k];
    // Stalls only grow and read back as 0 when absent: a 0 is not written.
    if (v === undefined || (v === 0 && k === 'stalls')) continue;
    if (v === null) {
      if (nulls) nulls.push(FIELD[k]);
      else nulls = [FIELD[k]];
      continue;
    }
    let value: string;
    if (k === 'started_at') {
      value = sa = t?.started_at !== undefined ? base36Ms(t.started_at) : encodeValue(k, v);
      out[15] = value;
    } else if (k === 'ended_at') {
      value = ea = t?.ended_at !== undefined ? base36Ms(t.ended_at) : encodeValue(k, v);
    } else {
      value = encodeValue(k, v);
      if (k === 'status') out[12] = value;
      else if (k === 'duration_ms') out[13] = value;
      else if (k === 'attempts') out[14] = value;
    }
    pairs.push(FIELD[k as Stored], value);
  }
  pairs.push('z', u.seq);
  if (u.attempt)
    pairs.push(
      `@${u.attempt.attempt}`,
      // Written empty when the run's own fields say it all (see APPLY_UPDATES_LUA for an older update's).
      impliedAttempt(u.attempt, u.patch) ? '' : encodeAttempt(u.attempt, u.patch, sa, ea),
    );
  out[5] = String(pairs.length - nIdentity);
  if (nulls) for (const f of nulls) out.push(f);
  out[6] = nulls ? String(nulls.length) : '0';
  for (const l of u.logs) {
    out.push(l.seq ?? '', JSON.stringify({ time: l.time, level: l.level, message: l.message }));
  }
  out[7] = String(u.logs.length);
  const marks = (u.marks ?? NO_MARKS) as Record<string, unknown>;
  let n = 0;
  for (const k in marks) {
    const v = marks[k];
    if (v === undefined || v === null || v === false) continue;
    out.push(FIELD[k as Stored], encodeValue(k, v));
    n++;
  }
  out[8] = String(n);
  n = 0;
  for (const k in marks) {
    const v = marks[k];
    if (v !== null && v !== false) continue;
    out.push(FIELD[k as Stored]);
    n++;
  }
  out[9] = String(n);
  // Search terms, plus the run id and user id when they differ from their lowercased form (the
  // lowercase ones are found through the run's key and the user's leaves).
  const runTerm = needsNorm(u.run_id) ? norm(u.run_id) : u.run_id;
  const userTerm = id.user_id && needsNorm(id.user_id) ? norm(id.user_id) : id.user_id;
  if (!id.search?.length && runTerm === u.run_id && userTerm === id.user_id) {
    out[11] = '0';
    return [out, pairs];
  }
  const terms = new Set<string>();
  if (id.search) for (const t of id.search) if (norm(t)) terms.add(norm(t));
  if (runTerm !== u.run_id && runTerm) terms.add(runTerm);
  if (userTerm && userTerm !== id.user_id) terms.add(userTerm);
  for (const t of terms) out.push(t);
  out[11] = String(terms.size);
  return [out, pairs];
}

/** A lone surrogate as JSON.stringify escapes it (well-formed text is written as it is). */
const LONE_SURROGATE = /\\ud[89a-f]/;

/**
 * Strings as a JSON array. A lone surrogate (broken UTF-16 in a processor's text) becomes U+FFFD, as it would
 * on its way to Redis as UTF-8 anyway: Redis' cjson refuses its escape, and the whole update with it. The
 * check reads the JSON text once (a backslash before `ud8`… is rare: text that merely looks like one only
 * costs the second pass).
 */
function jsonArray(a: string[]): string {
  const json = JSON.stringify(a);
  return LONE_SURROGATE.test(json) ? JSON.stringify(a.map((s) => s.toWellFormed())) : json;
}

const FINISHED_SET = new Set<string>(FINISHED_STATUSES);
const TAB = /\t/;

/**
 * The head as the script reads it. An update that may create its run finished (no marks) and has no logs
 * or search terms — most short runs — sends it as tab-separated text (see APPLY_UPDATES_LUA: the slots the
 * common case needs first), which the script splits without decoding JSON; not when one of its texts holds a
 * tab.
 */
function headArg(head: string[]): string {
  if (
    head[3] === '1' ||
    head[7] !== '0' ||
    head[8] !== '0' ||
    head[9] !== '0' ||
    head[11] !== '0' ||
    !FINISHED_SET.has(head[12]) ||
    TAB.test(head[0]) ||
    TAB.test(head[1]) ||
    TAB.test(head[15]) ||
    TAB.test(head[16]) ||
    TAB.test(head[17]) ||
    TAB.test(head[18])
  )
    return jsonArray(head);
  let text = `F\t${head[0]}\t${head[2]}\t${head[12]}\t${head[13]}\t${head[16]}\t${head[17]}\t${head[18]}\t${head[1]}\t${head[4]}\t${head[5]}\t${head[10]}\t${head[14]}\t${head[15]}`;
  for (let i = 19; i < head.length; i++) text += `\t${head[i]}`;
  return text;
}

/** The script's arguments for a chunk of updates: head and pairs of each (see {@link headArg}). */
function encodeArgs(chunk: RunUpdate[]): string[] {
  const args: string[] = new Array(chunk.length * 2);
  for (let i = 0; i < chunk.length; i++) {
    const [head, pairs] = encodeUpdate(chunk[i]);
    args[2 * i] = headArg(head);
    args[2 * i + 1] = jsonArray(pairs);
  }
  return args;
}

/** The field/value pairs of a run record stored as a string (see APPLY_UPDATES_LUA), as a hash reads. */
function recordOf(raw: string[]): Record<string, string> {
  let flat: unknown = raw;
  if (raw.length === 1) {
    try {
      flat = JSON.parse(raw[0]);
    } catch {
      return {}; // not a record (a damaged key): read as absent
    }
  }
  const hash: Record<string, string> = {};
  if (!Array.isArray(flat)) return hash;
  for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  return hash;
}

/**
 * Redis replies that a later retry may not get (server busy, loading, read-only replica, out of memory,
 * cluster moving): the batch is retried as a whole. Any other error reply to one update (a script error, a
 * key of the wrong type) refuses that update for good.
 */
const TRANSIENT_REPLY =
  /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|NOSCRIPT|NOREPLICAS|EXECABORT)\b/;

/** True for an error reply that refuses this update for good (see {@link TRANSIENT_REPLY}). */
export function isPoisonReply(err: unknown): boolean {
  return err instanceof ReplyError && !TRANSIENT_REPLY.test(String((err as Error).message));
}

export interface RedisRunStoreOptions {
  /** QUEUE_PREFIX; every key of the store starts with {@link RedisKeys.runsBase} (one hash tag: one Cluster slot). */
  prefix: string;
  retentionSeconds?: number;
  /** Cap on `result` and `error_message` (RUN_RESULT_MAX_BYTES). @defaultValue 64 KiB */
  maxResultBytes?: number;
  /** Where rejected updates are logged. */
  logger?: Logger;
  /**
   * Count finished runs into the shared Prometheus counters (`metrics:runs`, `metrics:durations`, see
   * SharedCounters) in the same Lua call that stores them: exactly once per run and status, no extra round
   * trip. @defaultValue true
   */
  countRuns?: boolean;
}

/** Index entries a list reads at most to fill a page that needs a check on the run itself (`stuck`, `q`). */
export const LIST_SCAN_BUDGET = 5000;

/** A position in the newest-first order: score (created_at ms), then run id. */
interface Pos {
  score: number;
  id: string;
}

/** What a list reads: the sorted sets whose union is (or contains) the answer, and what to check on each run. */
interface Plan {
  keys: string[];
  /** A run id to consider even if no set has it (`q` equal to a run id). */
  direct: string;
  /** True when the sets hold exactly the matching runs (no check on the run needed). */
  exact: boolean;
  /** Runs to leave out (`stuck=false`: the stuck runs, a small set). */
  exclude?: Set<string>;
}

/**
 * RunStore on Redis, used when MONGO_URL is unset. Layout (every key under {@link RedisKeys.runsBase}):
 * - `r:<id>`: the run's record, short fields (see `FIELD`), null fields absent: a hash (listpack for a
 *   normal run), or — for a run whose first write already finished it, most short runs — a string holding
 *   the same field/value pairs as JSON, created with its TTL in one command and turned into the hash by
 *   the first later change (see APPLY_UPDATES_LUA); every read takes both. `l:<id>`: its last 50 log lines,
 *   only when it logged.
 * - `L:<job>|<status>|<trigger>`: one index leaf per combination (sorted set, score created_at ms);
 *   every run is in exactly one; `D` lists the leaves that exist. A user's runs are also in
 *   `U:<len>:<user>|<leaf>` leaves listed in `UD:<user>`. `K`: the runs flagged stuck. `Q:<term>`: runs by
 *   search term (and by lowercased run id / user id when those are not lowercase).
 * A list picks the leaves its filters allow (job, status, trigger, user: exact), merges them newest first
 * server-side (one Lua call) from the cursor, and reads only the runs on the page; only `stuck` and `q`
 * check the runs themselves, over sets that are small (the stuck runs, one term's runs), bounded by
 * {@link LIST_SCAN_BUDGET} with a `next_cursor` when it stops early. Retention: run keys expire after
 * the retention; index entries older than it are trimmed at most once a minute.
 */
export class RedisRunStore implements RunStore {
  private readonly base: string;
  private readonly keys: RedisKeys;
  private readonly retentionMs: number;
  private lastTrim = 0;
  private readonly maxResultBytes: number;
  private readonly logger: Logger | undefined;
  /** KEYS of the apply script: the leaf directory, then the counters when this store counts runs. */
  private readonly applyKeys: string[];
  /** True when this store counts finished runs itself (see {@link RedisRunStoreOptions.countRuns}). */
  readonly countsFinishedRuns: boolean;

  constructor(
    private readonly redis: Redis,
    opts: RedisRunStoreOptions,
  ) {
    this.keys = new RedisKeys(opts.prefix);
    this.base = this.keys.runsBase;
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES;
    this.logger = opts.logger;
    this.retentionMs = (opts.retentionSeconds ?? RUN_RETENTION_SECONDS) * 1000;
    this.countsFinishedRuns = opts.countRuns ?? true;
    this.applyKeys = this.countsFinishedRuns
      ? [this.keys.runLeafDir, this.keys.metric('runs'), this.keys.metric('durations')]
      : [this.keys.runLeafDir];
    defineScript(redis, 'jmApplyRuns5', { lua: APPLY_UPDATES_LUA });
    defineScript(redis, 'jmMergeRuns2', { numberOfKeys: 1, lua: MERGE_LUA });
    defineScript(redis, 'jmTrimRuns', { numberOfKeys: 1, lua: TRIM_LUA });
    defineScript(redis, 'jmReadRuns2', { lua: READ_RUNS_LUA });
    defineScript(redis, 'jmRunStatuses4', { lua: RUN_STATUSES_LUA });
  }

  /** The key of a run's record (for tools and benches that measure it). */
  runKey(runId: string): string {
    return this.keys.run(runId);
  }

  async init(): Promise<void> {
    await this.redis.ping();
  }

  /**
   * Writes the updates with one Lua call per {@link APPLY_CHUNK} updates, all in one pipeline (one round
   * trip). Each update is atomic and idempotent on its own; see {@link RunUpdate}. `result` and
   * `error_message` are capped first (RUN_RESULT_MAX_BYTES). When Redis refuses a chunk for good (a script
   * error), its updates are written one by one: the one refused again is logged
   * (`run_store_update_rejected`), replaced by a tracking-error update and skipped, so it never blocks the
   * others or later batches. Throws only for what a retry may fix (connection, busy, OOM), and the tracker
   * retries.
   */
  async apply(updates: RunUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const prepared = updates.map((u) => prepareUpdate(u, this.maxResultBytes));
    const chunks: RunUpdate[][] = [];
    for (let start = 0; start < prepared.length; start += APPLY_CHUNK) {
      chunks.push(prepared.slice(start, start + APPLY_CHUNK));
    }
    const replies = await this.runChunks(chunks);
    for (let i = 0; i < chunks.length; i++) {
      const err = replies[i];
      if (!err) continue;
      if (!isPoisonReply(err)) throw err;
      // One update of this chunk is refused; the chunk stopped there. Write them one at a time (each is
      // idempotent, so the ones already written change nothing).
      const single = await this.runChunks(chunks[i].map((u) => [u]));
      for (let j = 0; j < single.length; j++) {
        if (!single[j]) continue;
        if (!isPoisonReply(single[j])) throw single[j];
        await this.recordRejected(chunks[i][j], single[j] as Error);
      }
    }
    await this.trimIndexes();
  }

  /**
   * One Lua call per chunk (several in one pipeline; the usual single chunk without one: building a pipeline
   * copies every command the client defines); returns each call's error (null when it succeeded).
   */
  private async runChunks(chunks: RunUpdate[][]): Promise<(Error | null)[]> {
    const now = Date.now();
    // Two arguments per update (see encodeUpdate): a run created finished is stored as the second.
    const args = (chunk: RunUpdate[]) => [
      this.applyKeys.length,
      ...this.applyKeys,
      this.base,
      this.retentionMs,
      now,
      ...encodeArgs(chunk),
    ];
    if (chunks.length === 1) {
      const apply = (this.redis as unknown as { jmApplyRuns5: ApplyCommand }).jmApplyRuns5;
      return apply.call(this.redis, ...(args(chunks[0]) as Parameters<ApplyCommand>)).then(
        () => [null],
        (err: Error) => [err],
      );
    }
    const pipeline = this.redis.pipeline();
    const apply = (pipeline as unknown as { jmApplyRuns5: ApplyCommand }).jmApplyRuns5.bind(pipeline);
    for (const chunk of chunks) apply(...(args(chunk) as Parameters<ApplyCommand>));
    const res = await pipeline.exec();
    if (!res) throw new Error('Redis pipeline aborted');
    return res.map(([err]) => err ?? null);
  }

  private async recordRejected(u: RunUpdate, err: Error): Promise<void> {
    const reason = `Redis refused the update: ${err.message.slice(0, 500)}`;
    this.logger?.error({ run_id: u.run_id, seq: u.seq, reason }, 'run_store_update_rejected');
    const [again] = await this.runChunks([[trackingErrorUpdate(u, reason)]]);
    if (again && !isPoisonReply(again)) throw again;
    if (again) this.logger?.error({ err: again, run_id: u.run_id }, 'run_store_tracking_error_not_recorded');
  }

  async get(runId: string): Promise<JobRun | null> {
    const m = this.redis.multi();
    (m as unknown as { jmReadRuns2: ReadCommand }).jmReadRuns2(
      1,
      this.keys.run(runId),
      this.base,
      String(this.retentionMs),
    );
    const [[raw], logs] = (await execAll(m.lrange(this.keys.runLogs(runId), 0, -1))) as [
      string[][],
      string[],
    ];
    const hash = recordOf(raw);
    if (Object.keys(hash).length === 0) return null;
    return decodeRun(runId, hash, logs);
  }

  /** Leaves (`job|status|trigger`) of the directory `dir` that the filters allow. */
  /**
   * Leaves (`job|status|trigger`) a query reads, from the directory `dir`. A run changes leaves only by its
   * status (job and trigger are fixed), and the directory is read before the leaves are merged: so for every
   * (job, trigger) pair the directory has, every allowed status is read, whether its leaf exists yet or not.
   * Otherwise a run whose status changed between the two reads — into a leaf created just then — would be in
   * neither list and missing from the page (seen under load: a run just finished, not listed).
   */
  private async leaves(dir: string, query: RunQuery, statuses?: readonly RunStatus[]): Promise<string[]> {
    const pairs = new Map<string, [string, string]>();
    for (const leaf of await this.redis.smembers(dir)) {
      const t = leaf.lastIndexOf('|');
      const s = leaf.lastIndexOf('|', t - 1);
      if (s < 0) continue;
      const job = leaf.slice(0, s);
      const trigger = leaf.slice(t + 1);
      if (query.trigger && trigger !== query.trigger) continue;
      if (query.job_id && job !== query.job_id) continue;
      pairs.set(`${job}|${trigger}`, [job, trigger]);
    }
    const out: string[] = [];
    for (const [job, trigger] of pairs.values()) {
      for (const status of statuses ?? RUN_STATUSES) out.push(`${job}|${status}|${trigger}`);
    }
    return out;
  }

  private async plan(query: RunQuery): Promise<Plan> {
    const statuses = query.status?.length ? query.status : undefined;
    const q = query.q !== undefined ? norm(query.q) : ''; // an empty search filters nothing
    if (q) {
      // A run id, a user id or a term: the run's own key, the user's leaves and the term's set.
      const userLeaves = await this.leaves(this.keys.runUserDir(q), {});
      return {
        keys: [this.keys.runTerm(q), ...userLeaves.map((l) => this.keys.runUserLeaf(q, l))],
        direct: q,
        exact: false,
      };
    }
    if (query.stuck === true) return { keys: [this.keys.runStuck], direct: '', exact: false };
    // stuck=false: the same leaves minus the stuck runs (few: active runs the monitor flagged).
    const exclude =
      query.stuck === false ? new Set(await this.redis.zrange(this.keys.runStuck, '0', '-1')) : undefined;
    if (query.user_id) {
      const user = query.user_id;
      const leaves = await this.leaves(this.keys.runUserDir(user), query, statuses);
      return { keys: leaves.map((l) => this.keys.runUserLeaf(user, l)), direct: '', exact: true, exclude };
    }
    const leaves = await this.leaves(this.keys.runLeafDir, query, statuses);
    return { keys: leaves.map((l) => this.keys.runLeaf(l)), direct: '', exact: true, exclude };
  }

  /** The next `want` index entries after `pos` within [since, before), newest first. */
  private async merge(plan: Plan, query: RunQuery, pos: Pos | null, want: number): Promise<Pos[]> {
    if (plan.keys.length === 0 && !plan.direct) return [];
    const bottom = query.since !== undefined ? String(query.since) : '-inf';
    let top = query.before !== undefined ? `(${query.before}` : '+inf';
    let tie = '';
    if (pos && (query.before === undefined || pos.score < query.before)) {
      top = `(${pos.score}`;
      tie = String(pos.score);
    }
    const cmd = (this.redis as unknown as { jmMergeRuns2: MergeCommand }).jmMergeRuns2;
    const raw = await cmd.call(
      this.redis,
      this.keys.runLeafDir,
      this.base,
      top,
      bottom,
      tie,
      pos?.id ?? '',
      want,
      plan.direct,
      this.retentionMs,
      ...plan.keys,
    );
    const out: Pos[] = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ id: raw[i], score: Number(raw[i + 1]) });
    return out;
  }

  async list(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const plan = await this.plan(query);
    const statuses = query.status?.length ? query.status : undefined;
    let pos: Pos | null = null;
    if (query.cursor) {
      const c = decodeCursor(query.cursor);
      if (c) pos = { score: c.createdAtMs, id: c.runId };
    }
    const out: { run: JobRun; pos: Pos }[] = [];
    let scanned = 0;
    for (;;) {
      const want = plan.exact
        ? limit + 1 - out.length
        : Math.min(LIST_SCAN_BUDGET - scanned, Math.max(100, 2 * limit));
      const merged = await this.merge(plan, query, pos, want);
      if (merged.length === 0) break;
      const ex = plan.exclude;
      const entries = ex?.size ? merged.filter((e) => !ex.has(e.id)) : merged;
      if (entries.length === 0) {
        pos = merged[merged.length - 1];
        if (merged.length < want) break;
        continue;
      }
      const hashes = await this.readRuns(entries.map((e) => e.id));
      for (let i = 0; i < entries.length && out.length <= limit; i++) {
        pos = entries[i];
        scanned++;
        const hash = hashes[i];
        if (Object.keys(hash).length === 0) continue; // expired; its index entry is trimmed later
        const run = decodeRun(entries[i].id, hash, []);
        if (!plan.exact) {
          if (query.job_id && run.job_id !== query.job_id) continue;
          if (statuses && !statuses.includes(run.status)) continue;
          if (query.user_id && run.user_id !== query.user_id) continue;
          if (query.trigger && run.trigger !== query.trigger) continue;
          if (query.stuck !== undefined && run.stuck !== query.stuck) continue;
        }
        out.push({ run, pos: entries[i] });
      }
      if (out.length <= limit) pos = merged[merged.length - 1]; // past the excluded ones too
      if (merged.length < want) break;
      if (out.length > limit) break;
      if (!plan.exact && scanned >= LIST_SCAN_BUDGET) {
        // Stopped early: the page may be short, and the cursor continues where the scan stopped.
        const runs = out.map((o) => o.run);
        return { runs, next_cursor: pos ? encodeCursor(pos.score, pos.id) : null };
      }
    }
    const page = out.slice(0, limit);
    const last = page[page.length - 1];
    const next_cursor = out.length > limit && last ? encodeCursor(last.pos.score, last.pos.id) : null;
    return { runs: page.map((o) => o.run), next_cursor };
  }

  /**
   * Runs of one status (all jobs): the sum of its leaves' sizes. For tools and benches that wait for
   * runs to be recorded (e.g. "every run completed").
   */
  async countStatus(status: RunStatus): Promise<number> {
    const leaves = await this.leaves(this.keys.runLeafDir, {}, [status]);
    const p = this.redis.pipeline();
    for (const l of leaves) p.zcard(this.keys.runLeaf(l));
    return (await execAll(p)).reduce((n: number, c) => n + Number(c), 0);
  }

  /**
   * Counts: ZCOUNT on the job's leaves (O(log n) each); the finished sample merges the job's finished
   * leaves (at most `sample` entries) and reads status and duration of those runs, all pipelined.
   */
  async stats(jobId: string, since: number, sample = DEFAULT_STATS_SAMPLE): Promise<RunStatsSample> {
    const leaves = await this.leaves(this.keys.runLeafDir, { job_id: jobId });
    const p = this.redis.pipeline();
    for (const l of leaves) p.zcount(this.keys.runLeaf(l), since, '+inf');
    const res = await execAll(p);
    const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    leaves.forEach((l, i) => {
      const status = leafStatus(l);
      if (status in counts) counts[status] += Number(res[i]);
    });
    const finishedLeaves = leaves.filter((l) => FINISHED_STATUSES.includes(leafStatus(l)));
    const plan: Plan = { keys: finishedLeaves.map((l) => this.keys.runLeaf(l)), direct: '', exact: true };
    const keep = sample > 0 ? await this.merge(plan, { since }, null, sample) : [];
    const hashes = await this.readRuns(keep.map((c) => c.id));
    const finished: FinishedRunSample[] = [];
    keep.forEach((c, i) => {
      const { s: status, d: duration } = hashes[i];
      if (!status) return; // expired meanwhile
      finished.push({
        run_id: c.id,
        status: status as RunStatus,
        created_at: new Date(c.score).toISOString(),
        duration_ms: duration ? Number(duration) : null,
      });
    });
    return { counts, finished };
  }

  /** A per-run read script's answer for each run, one Lua call per 1,000 runs, all in one pipeline. */
  private async perRun<T>(script: 'jmReadRuns2' | 'jmRunStatuses4', runIds: string[]): Promise<T[]> {
    if (!runIds.length) return [];
    const pipeline = this.redis.pipeline();
    const read = (pipeline as unknown as Record<string, StatusesCommand>)[script].bind(pipeline);
    const CHUNK = 1000;
    for (let i = 0; i < runIds.length; i += CHUNK) {
      const keys = runIds.slice(i, i + CHUNK).map((id) => this.keys.run(id));
      read(keys.length, ...keys, this.base, String(this.retentionMs));
    }
    const res = (await execAll(pipeline)) as T[][];
    return runIds.map((_, i) => res[Math.floor(i / CHUNK)][i % CHUNK]);
  }

  /** Run records as field/value maps (empty: no such run). */
  private async readRuns(runIds: string[]): Promise<Record<string, string>[]> {
    return (await this.perRun<string[]>('jmReadRuns2', runIds)).map(recordOf);
  }

  /** Each run's status (HGET of its `s`), one Lua call per 1,000 runs. */
  async statuses(runIds: string[]): Promise<Map<string, RunStatus>> {
    const out = new Map<string, RunStatus>();
    const res = await this.perRun<string | false | null>('jmRunStatuses4', runIds);
    runIds.forEach((id, i) => {
      const v = res[i];
      if (typeof v === 'string') out.set(id, (v.startsWith('"') ? JSON.parse(v) : v) as RunStatus);
    });
    return out;
  }

  /** Sizes of the active leaves (pending, running), per job: exact, no run read. */
  async countActive(): Promise<Record<string, number>> {
    const leaves = await this.leaves(this.keys.runLeafDir, {}, ACTIVE_STATUSES);
    const p = this.redis.pipeline();
    for (const l of leaves) p.zcard(this.keys.runLeaf(l));
    const res = await execAll(p);
    const out: Record<string, number> = {};
    leaves.forEach((l, i) => {
      const n = Number(res[i]);
      if (n <= 0) return;
      const job = l.slice(0, l.lastIndexOf('|', l.lastIndexOf('|') - 1));
      out[job] = (out[job] ?? 0) + n;
    });
    return out;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    // The Redis connection belongs to the caller (composition root).
  }

  /** Drops index entries older than the retention (one Lua call), at most once a minute. */
  private async trimIndexes(): Promise<void> {
    const now = Date.now();
    if (now - this.lastTrim < 60_000) return;
    this.lastTrim = now;
    const cmd = (this.redis as unknown as { jmTrimRuns: MergeCommand }).jmTrimRuns;
    await cmd.call(this.redis, this.keys.runLeafDir, this.base, this.retentionMs, now - this.retentionMs);
  }
}

type MergeCommand = (key: string, ...args: (string | number)[]) => Promise<string[]>;

function leafStatus(leaf: string): RunStatus {
  const t = leaf.lastIndexOf('|');
  return leaf.slice(leaf.lastIndexOf('|', t - 1) + 1, t) as RunStatus;
}

const DECODED = Object.entries(FIELD) as [Stored, string][];

/** A stored hash as a JobRun (see `FIELD`); hashes of the earlier layout (JSON values) read too. */
function decodeRun(runId: string, hash: Record<string, string>, logs: string[]): JobRun {
  if (hash.j === undefined && hash.job_id !== undefined) return decodeLegacy(runId, hash, logs);
  const run: Record<string, unknown> = { run_id: runId };
  for (const [k, f] of DECODED) run[k] = hash[f] === undefined ? null : decodeValue(k, hash[f]);
  run.created_at = new Date(Number(hash.c)).toISOString();
  run.status = run.status ?? 'pending';
  run.progress = run.progress ?? 0;
  run.attempts = run.attempts ?? 0;
  run.stalls = run.stalls ?? 0;
  run.stuck = run.stuck === true;
  run.result = run.result ?? null;
  run.seq = hash.z ?? '';
  const attempts: AttemptRecord[] = [];
  for (const f in hash) {
    if (f[0] !== '@') continue;
    attempts.push(
      hash[f] === '' ? attemptFromRun(run as unknown as JobRun) : decodeAttempt(Number(f.slice(1)), hash[f]),
    );
  }
  attempts.sort((a, b) => a.attempt - b.attempt);
  run.attempts_log = attempts.slice(-MAX_RUN_ATTEMPTS);
  run.logs = logs.map((l) => JSON.parse(l) as RunLog);
  return run as unknown as JobRun;
}

const LEGACY_FIELDS = [
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

/** A run written by the earlier layout (JSON-encoded values, long names); read until it expires. */
function decodeLegacy(runId: string, hash: Record<string, string>, logs: string[]): JobRun {
  const run: Record<string, unknown> = {
    ...newRun(runId, { job_id: '', queue: '', created_at: '', trigger: 'api', user_id: null }),
  };
  for (const f of LEGACY_FIELDS) run[f] = hash[f] === undefined ? null : JSON.parse(hash[f]);
  run.seq = hash.seq ?? '';
  run.progress = run.progress ?? 0;
  run.attempts = run.attempts ?? 0;
  run.stalls = run.stalls ?? 0;
  run.logs = logs.map((l) => JSON.parse(l) as RunLog);
  return run as unknown as JobRun;
}
