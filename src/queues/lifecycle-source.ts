import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { stderrLogger } from '../logger';
import { logErrorsOncePerEpisode } from '../log-once';
import {
  type JobEnvelope,
  type JobSnapshot,
  type LifecycleEvent,
  TRACKED_EVENTS,
} from '../monitor/lifecycle';
import type { LifecycleSource, SubscribeOptions, WorkerEnds } from '../monitor/tracker';
import { defineScript } from './redis';
import { RedisKeys } from './redis-keys';

const TRACKED = new Set<string>(TRACKED_EVENTS);

/**
 * One stream entry (`[field, value, ...]`) as a LifecycleEvent, or null when the tracker ignores it
 * (drained, cleaned, ...) or it names no job.
 */
export function toLifecycleEvent(queue: string, id: string, fields: string[]): LifecycleEvent | null {
  let event: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'event') {
      event = fields[i + 1];
      break;
    }
  }
  if (!event || !TRACKED.has(event)) return null;
  const args: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i += 2) if (fields[i] !== 'event') args[fields[i]] = fields[i + 1];
  if (typeof args.jobId !== 'string') return null;
  if (event === 'progress') args.data = parseJson(args.data);
  else if (event === 'completed') args.returnvalue = parseJson(args.returnvalue);
  return { queue, id, event, jobId: args.jobId, args };
}

function parseJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** A connection of its own for blocking reads, from BullMQ's connection (options, or a Cluster client). */
function blockingClient(connection: object): Redis | Cluster {
  if (connection instanceof Cluster) return connection.duplicate();
  if (connection instanceof Redis) return connection.duplicate();
  const { url, ...rest } = connection as { url?: string } & RedisOptions;
  return url
    ? new Redis(url, { ...rest, maxRetriesPerRequest: null })
    : new Redis({ ...rest, maxRetriesPerRequest: null });
}

/** Resolves once a client is connected (either kind). */
function waitReadyAny(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

const FIELDS = [
  'name',
  'data',
  'timestamp',
  'processedOn',
  'finishedOn',
  'atm',
  'ats',
  'stc',
  'pb',
  'failedReason',
  'delay',
  'returnvalue',
];

/**
 * Reads many job hashes in one command (instead of one HMGET each): the per-command client cost was a
 * large part of the tracker's CPU in the throughput profile. Keys are declared, so Cluster routing works.
 */
const SNAPSHOTS_LUA = `local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(ARGV)) end
return out`;

/**
 * The reconciler's read (reconcile mode): the entries of a queue's events stream after ARGV[1] and at least
 * ARGV[2] ms old (Redis time), at most ARGV[3] of them, keeping only what no worker reports: `active`,
 * `progress`, log and `completed` entries are dropped here, where the stream lives, and so is the `added` /
 * `waiting` entry of a job a worker has taken since (its job hash has `processedOn` at or after the entry,
 * or is gone: finished and removed). What is left is a few entries per stall, removal, failure, delay, job
 * added past the API, and our own marks. KEYS[1] the stream; ARGV[4] the queue's job key prefix (same
 * slot). Returns { last id read ('' when none), kept entries as { id, fields }, entries read }.
 */
const RECONCILE_READ_LUA = `local t = redis.call('TIME')
local upTo = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
if upTo < 0 then return { '', {}, 0 } end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], tostring(upTo), 'COUNT', tonumber(ARGV[3]))
local SKIP = { active = true, progress = true, completed = true, drained = true,
  ['jm:log'] = true, ['retries-exhausted'] = true, deduplicated = true, duplicated = true }
local out, last, taken = {}, '', {}
for _, e in ipairs(entries) do
  local id, f = e[1], e[2]
  last = id
  local ev, jobId, prev
  for i = 1, #f, 2 do
    local k = f[i]
    if k == 'event' then ev = f[i + 1] elseif k == 'jobId' then jobId = f[i + 1] elseif k == 'prev' then prev = f[i + 1] end
  end
  local keep = ev ~= nil and not SKIP[ev]
  if keep and jobId and (ev == 'added' or (ev == 'waiting' and prev ~= 'active')) then
    local at = tonumber(string.match(id, '^(%d+)'))
    local p = taken[jobId]
    if p == nil then
      p = redis.call('HGET', ARGV[4] .. jobId, 'processedOn')
      if p == false and redis.call('EXISTS', ARGV[4] .. jobId) == 0 then p = 'gone' end
      taken[jobId] = p
    end
    if p == 'gone' then keep = false
    elseif p ~= false and tonumber(p) and tonumber(p) >= at then keep = false end
  end
  if keep then out[#out + 1] = e end
end
return { last, out, #entries }`;

/**
 * Ends of a queue in one of its finished sets (KEYS[1]: completed or failed) whose `finishedOn` score is in
 * [ARGV[1], ARGV[2]] and whose job hash names ARGV[3] as its worker (`processedBy`): a dead worker's last
 * runs. Reads at most ARGV[4] ids from offset ARGV[5]; ARGV[6] the job key prefix (same slot). Returns
 * { Redis time ms, ids read, matching ids }.
 */
const ENDS_BY_LUA = `local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', tonumber(ARGV[5]), tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('HGET', ARGV[6] .. id, 'pb') == ARGV[3] then out[#out + 1] = id end
end
return { nowMs, #ids, out }`;

/** Ids a finished-set read takes per Lua call. */
const ENDS_CHUNK = 2000;

/** Job hashes read per Lua call. */
const SNAPSHOT_CHUNK = 500;

type SnapshotsCommand = (numKeys: number, ...args: string[]) => Promise<(string | null)[][]>;
type ReconcileReadCommand = (
  key: string,
  fromId: string,
  graceMs: number,
  count: number,
  jobPrefix: string,
) => Promise<[string, [string, string[]][], number]>;
type EndsByCommand = (key: string, ...args: (string | number)[]) => Promise<[number, number, string[]]>;

/** Stream entries one reconcile read scans at most. */
const RECONCILE_READ_COUNT = 5000;

function num(v: string | null): number | null {
  if (v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function parseData(v: string | null): JobEnvelope {
  if (!v) return {};
  try {
    const d = JSON.parse(v);
    return d && typeof d === 'object' ? (d as JobEnvelope) : {};
  } catch {
    return {};
  }
}

/**
 * The tracker's view of BullMQ: QueueEvents (resumable by lastEventId) for the events streams, one
 * Lua read per batch (up to 500 job hashes each) for job hashes, and checkpoints in Redis next to the streams.
 */
export class BullmqLifecycleSource implements LifecycleSource {
  constructor(
    private readonly redis: Redis,
    private readonly connection: object,
    prefix: string,
    private readonly keys = new RedisKeys(prefix),
    /** Where read-loop errors go (once per outage). @defaultValue a warn-level logger to stderr */
    private readonly logger: Logger = stderrLogger(),
  ) {
    defineScript(redis, 'jmSnapshots', { lua: SNAPSHOTS_LUA });
    defineScript(redis, 'jmEndsBy', { numberOfKeys: 1, lua: ENDS_BY_LUA });
    defineScript(redis, 'jmReconcileRead', { numberOfKeys: 1, lua: RECONCILE_READ_LUA });
  }

  async loadCheckpoint(queue: string): Promise<string | null> {
    return this.redis.get(this.keys.trackerCheckpoint(queue));
  }

  async saveCheckpoint(queue: string, eventId: string): Promise<void> {
    // Monotonic: two trackers never move a checkpoint backwards.
    await this.redis.eval(
      `local cur = redis.call('GET', KEYS[1])
       local function parts(id) local a, b = string.match(id, '(%d+)-(%d+)') return tonumber(a), tonumber(b) end
       if cur then
         local ca, cb = parts(cur) local na, nb = parts(ARGV[1])
         if na < ca or (na == ca and nb <= cb) then return 0 end
       end
       redis.call('SET', KEYS[1], ARGV[1]) return 1`,
      1,
      this.keys.trackerCheckpoint(queue),
      eventId,
    );
  }

  /**
   * Reads a queue's events stream from `fromId`, in order. Without options (every event folded): XREAD of up
   * to 2,000 entries at a time on a blocking connection of its own, each entry turned into a LifecycleEvent
   * when it is one the tracker folds. In reconcile mode (`opts.reconcileGraceMs`) the filtering happens in
   * Redis ({@link RECONCILE_READ_LUA}): entries are read once they are at least the grace old, and only the
   * few no worker reports reach this process, so the reconciler costs nothing per ordinary run; `onScanned`
   * hears how far each read got. Read errors (Redis away) are logged once per outage; the loop waits a
   * second and reads again from the last id, so nothing is skipped.
   */
  async subscribe(
    queue: string,
    fromId: string,
    onEvent: (ev: LifecycleEvent) => void,
    opts: SubscribeOptions = {},
  ) {
    if (opts.reconcileGraceMs !== undefined) return this.subscribeReconciling(queue, fromId, onEvent, opts);
    const client = blockingClient(this.connection);
    logErrorsOncePerEpisode(client, this.logger, 'tracker_events_error', { queue }, null);
    const key = this.keys.queueKey(queue, 'events');
    let closing = false;
    let id = fromId;
    const loop = async () => {
      while (!closing) {
        let res: [string, [string, string[]][]][] | null;
        try {
          res = (await client.xread('COUNT', 2000, 'BLOCK', 5000, 'STREAMS', key, id)) as typeof res;
        } catch (err) {
          if (closing) return;
          this.logger.warn({ err, queue }, 'tracker_events_read_failed');
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const entries = res?.[0]?.[1];
        if (!entries) continue;
        for (const [entryId, fields] of entries) {
          id = entryId;
          const ev = toLifecycleEvent(queue, entryId, fields);
          if (ev) onEvent(ev);
        }
      }
    };
    await waitReadyAny(client);
    const running = loop().catch((err) => this.logger.error({ err, queue }, 'tracker_events_stopped'));
    return {
      close: async () => {
        closing = true;
        client.disconnect();
        await running;
      },
    };
  }

  private async subscribeReconciling(
    queue: string,
    fromId: string,
    onEvent: (ev: LifecycleEvent) => void,
    opts: SubscribeOptions,
  ) {
    const key = this.keys.queueKey(queue, 'events');
    const jobPrefix = this.keys.queueKey(queue, '');
    const read = (this.redis as unknown as { jmReconcileRead: ReconcileReadCommand }).jmReconcileRead.bind(
      this.redis,
    );
    const pollMs = Math.max(50, Math.min(500, Math.round((opts.reconcileGraceMs ?? 0) / 4)));
    let closing = false;
    let id = fromId;
    let wake: (() => void) | null = null;
    const pause = (ms: number) =>
      new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    const loop = async () => {
      while (!closing) {
        let res: [string, [string, string[]][], number];
        try {
          res = await read(key, id, opts.reconcileGraceMs ?? 0, RECONCILE_READ_COUNT, jobPrefix);
        } catch (err) {
          if (closing) return;
          this.logger.warn({ err, queue }, 'tracker_events_read_failed');
          await pause(1000);
          continue;
        }
        const [last, kept, scanned] = res;
        for (const [entryId, fields] of kept) {
          const ev = toLifecycleEvent(queue, entryId, fields);
          if (ev) onEvent(ev);
        }
        if (last) {
          id = last;
          opts.onScanned?.(last);
        }
        // A full read means more is waiting: read again at once.
        if (Number(scanned) < RECONCILE_READ_COUNT) await pause(pollMs);
      }
    };
    const running = loop().catch((err) => this.logger.error({ err, queue }, 'tracker_events_stopped'));
    return {
      close: async () => {
        closing = true;
        (wake as (() => void) | null)?.();
        await running;
      },
    };
  }

  /**
   * The runs of `queue` that worker `worker` ended (completed or failed for good) with `finishedOn` in
   * [fromMs, toMs] (BullMQ's finished sets, kept for JOB_RETENTION_SECONDS), read in chunks where they live;
   * `now` is Redis' time, for the updates the reconciler makes of them.
   */
  async endsBy(queue: string, worker: string, fromMs: number, toMs: number): Promise<WorkerEnds> {
    const run = (this.redis as unknown as { jmEndsBy: EndsByCommand }).jmEndsBy.bind(this.redis);
    const jobPrefix = this.keys.queueKey(queue, '');
    const out: WorkerEnds = { now: 0, completed: [], failed: [] };
    for (const set of ['completed', 'failed'] as const) {
      for (let offset = 0; ; offset += ENDS_CHUNK) {
        const [now, read, ids] = await run(
          this.keys.queueKey(queue, set),
          String(fromMs),
          String(toMs),
          worker,
          ENDS_CHUNK,
          offset,
          jobPrefix,
        );
        out.now = Math.max(out.now, Number(now));
        out[set].push(...ids);
        if (Number(read) < ENDS_CHUNK) break;
      }
    }
    return out;
  }

  async snapshots(queue: string, jobIds: string[]): Promise<Map<string, JobSnapshot>> {
    const pipeline = this.redis.pipeline();
    const read = (pipeline as unknown as { jmSnapshots: SnapshotsCommand }).jmSnapshots.bind(pipeline);
    for (let i = 0; i < jobIds.length; i += SNAPSHOT_CHUNK) {
      const keys = jobIds.slice(i, i + SNAPSHOT_CHUNK).map((id) => this.keys.queueKey(queue, id));
      read(keys.length, ...keys, ...FIELDS);
    }
    const res = (await pipeline.exec()) ?? [];
    const out = new Map<string, JobSnapshot>();
    jobIds.forEach((id, i) => {
      const [err, chunk] = res[Math.floor(i / SNAPSHOT_CHUNK)] ?? [];
      if (err) throw err;
      const v = (chunk as (string | null)[][] | undefined)?.[i % SNAPSHOT_CHUNK];
      if (!v || v[0] === null) return;
      out.set(id, {
        name: v[0],
        data: parseData(v[1]),
        timestamp: num(v[2]),
        processedOn: num(v[3]),
        finishedOn: num(v[4]),
        attemptsMade: num(v[5]) ?? 0,
        attemptsStarted: num(v[6]) ?? 0,
        stalls: num(v[7]) ?? 0,
        processedBy: v[8],
        failedReason: v[9] || null,
        delay: num(v[10]) ?? 0,
        ...(v[11] != null ? { returnvalue: parseJson(v[11]) } : {}),
      });
    });
    return out;
  }
}
