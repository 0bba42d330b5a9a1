import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { logErrorsOncePerEpisode } from '../log-once';
import {
  type JobEnvelope,
  type JobSnapshot,
  type LifecycleEvent,
  TRACKED_EVENTS,
} from '../monitor/lifecycle';
import type { LifecycleSource } from '../monitor/tracker';
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
];

/**
 * Reads many job hashes in one command (instead of one HMGET each): the per-command client cost was a
 * large part of the tracker's CPU in the throughput profile. Keys are declared, so Cluster routing works.
 */
const SNAPSHOTS_LUA = `local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(ARGV)) end
return out`;

/** Job hashes read per Lua call. */
const SNAPSHOT_CHUNK = 500;

type SnapshotsCommand = (numKeys: number, ...args: string[]) => Promise<(string | null)[][]>;

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
    /** Where read-loop errors go (once per outage); without it they are dropped. */
    private readonly logger?: Logger,
  ) {
    if (!(redis as unknown as { jmSnapshots?: unknown }).jmSnapshots) {
      redis.defineCommand('jmSnapshots', { lua: SNAPSHOTS_LUA });
    }
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
   * Reads a queue's events stream with its own blocking connection: XREAD of up to 2,000 entries at a time
   * from `fromId`, each entry turned into a LifecycleEvent only when it is one the tracker folds (BullMQ's
   * QueueEvents built two objects, emitted two events and parsed every return value per entry; the
   * reconciler reads every event of every run, so this loop is lean). `progress` data and `completed` return
   * values are parsed as QueueEvents did. Read errors (Redis away) are logged once per outage; the loop
   * waits a second and reads again from the last id, so nothing is skipped.
   */
  async subscribe(queue: string, fromId: string, onEvent: (ev: LifecycleEvent) => void) {
    const client = blockingClient(this.connection);
    if (this.logger) logErrorsOncePerEpisode(client, this.logger, 'tracker_events_error', { queue }, null);
    else client.on('error', () => undefined);
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
          this.logger?.warn({ err, queue }, 'tracker_events_read_failed');
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
    const running = loop().catch((err) => this.logger?.error({ err, queue }, 'tracker_events_stopped'));
    return {
      close: async () => {
        closing = true;
        client.disconnect();
        await running;
      },
    };
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
      });
    });
    return out;
  }
}
