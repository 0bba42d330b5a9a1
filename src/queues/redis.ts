import {
  Cluster,
  type ClusterNode,
  type ClusterOptions,
  type Command,
  Redis,
  type RedisOptions,
  ReplyError,
} from 'ioredis';
import { clusterDatabaseProblem } from '../config';
import { ConfigError } from '../config-file';
import { StoreUnavailableError } from '../monitor/store-unavailable-error';

/** Replies that mean "this server can't serve right now" rather than "this command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|READONLY) /;

/**
 * The driver's transport failures (connection closed or refused, offline, command timeout, retries exhausted,
 * no cluster node or sentinel reachable) as a {@link StoreUnavailableError}, message kept; command errors
 * (WRONGTYPE, NOSCRIPT, script errors) as they are.
 */
export function asStoreError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof StoreUnavailableError) return err;
  if (err instanceof ReplyError && !UNAVAILABLE_REPLY.test(err.message)) return err;
  return new StoreUnavailableError(err.message, { cause: err });
}

/** Wraps a command's reject so a transport failure rejects with {@link StoreUnavailableError}. */
function typedReject(command: Command): void {
  const reject = command.reject;
  command.reject = (err: Error) => reject(asStoreError(err) as Error);
}

/** A server (or Sentinel-found master) connection whose failed commands reject with typed errors. */
class TypedErrorsRedis extends Redis {
  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    typedReject(command);
    return super.sendCommand(command, stream);
  }
}

/** The same for a Redis Cluster client. */
class TypedErrorsCluster extends Cluster {
  constructor(nodes: ClusterNode[], options: ClusterOptions) {
    super(nodes, options as never);
  }

  override sendCommand(command: Command, ...rest: unknown[]): unknown {
    typedReject(command);
    return (super.sendCommand as (c: Command, ...r: unknown[]) => unknown)(command, ...rest);
  }
}

/**
 * Where Redis is: one server (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES`) or a master found
 * through Sentinel (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`). With a cluster or sentinels, `REDIS_URL`
 * still supplies the credentials (user, password) and TLS (`rediss:`), its host is not used.
 */
export interface RedisTarget {
  REDIS_URL: string;
  /** `host:port` seed nodes of a Redis Cluster; empty for a single server. */
  REDIS_CLUSTER_NODES?: readonly string[];
  /** `host:port` of the sentinels; empty when Sentinel is not used. */
  REDIS_SENTINELS?: readonly string[];
  /** Master name the sentinels monitor (`mymaster` by default). */
  REDIS_SENTINEL_NAME?: string;
}

/** Parses `host:port` (IPv6 as `[::1]:6379`). @throws on anything else. */
export function parseHostPort(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) throw new Error(`expected host:port, got "${v}"`);
  return { host: m[1] ?? m[2], port };
}

/** Credentials, database and TLS from REDIS_URL, applied to every node of a cluster or sentinel setup. */
function urlOptions(url: string): RedisOptions {
  const u = new URL(url);
  const out: RedisOptions = {};
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') out.tls = {};
  const db = Number(u.pathname.replace('/', ''));
  if (Number.isInteger(db) && db > 0) out.db = db;
  return out;
}

/** How the project talks to Redis: `'cluster'`, `'sentinel'` or `'single'`. */
export function redisMode(target: RedisTarget): 'cluster' | 'sentinel' | 'single' {
  if (target.REDIS_CLUSTER_NODES?.length) return 'cluster';
  if (target.REDIS_SENTINELS?.length) return 'sentinel';
  return 'single';
}

const retryStrategy = (times: number) => Math.min(times * 200, 2000);
// After a Sentinel failover the old master turns replica: reconnect (and ask the sentinels again)
// instead of failing writes with READONLY.
const reconnectOnError = (err: Error) => (err.message.startsWith('READONLY') ? 2 : false);

/**
 * A Redis connection for this system. `maxRetriesPerRequest: null` is what BullMQ needs for workers;
 * `failFast` (no offline queue, one retry) makes API calls fail fast (503) while Redis is away instead of
 * hanging. With `REDIS_CLUSTER_NODES` this is an ioredis `Cluster`: it has the command API every caller
 * uses (commands, pipelines, Lua, pub/sub, `duplicate()`), so it is typed as `Redis` here, the one place
 * that knows; every multi-key command the project sends stays in one slot (see RedisKeys). `commandTimeout`
 * bounds a call to a frozen Redis (request paths only: never on a connection that blocks, as BullMQ's
 * workers do). Transport failures reject with {@link StoreUnavailableError}.
 */
export function createRedis(
  target: string | RedisTarget,
  opts: RedisOptions & { failFast?: boolean } = {},
): Redis {
  const t: RedisTarget = typeof target === 'string' ? { REDIS_URL: target } : target;
  const { failFast, ...rest } = opts;
  const common: RedisOptions = {
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: !failFast,
    retryStrategy,
    reconnectOnError,
    connectionName: 'jobs-monitor',
    ...rest,
  };
  const mode = redisMode(t);
  if (mode === 'cluster') {
    // Cluster nodes refuse SELECT: a database number in REDIS_URL would fail every connection later.
    const dbProblem = clusterDatabaseProblem(t.REDIS_URL);
    if (dbProblem) throw new ConfigError(`environment: REDIS_URL: ${dbProblem}`);
    const { enableOfflineQueue, ...redisOptions } = common;
    return new TypedErrorsCluster(t.REDIS_CLUSTER_NODES!.map(parseHostPort), {
      redisOptions: { ...urlOptions(t.REDIS_URL), ...redisOptions },
      enableOfflineQueue,
      clusterRetryStrategy: retryStrategy,
      slotsRefreshTimeout: 2000,
    }) as unknown as Redis;
  }
  if (mode === 'sentinel') {
    return new TypedErrorsRedis({
      ...urlOptions(t.REDIS_URL),
      sentinels: t.REDIS_SENTINELS!.map(parseHostPort),
      name: t.REDIS_SENTINEL_NAME ?? 'mymaster',
      sentinelRetryStrategy: retryStrategy,
      ...common,
    } as never);
  }
  return new TypedErrorsRedis(t.REDIS_URL, common as never);
}

/**
 * What BullMQ opens its own (blocking) connections from: options for a single server or Sentinel; for a
 * cluster, a `Cluster` instance BullMQ duplicates (close it with {@link closeBullConnection}).
 */
export function bullConnection(target: string | RedisTarget): object {
  const t: RedisTarget = typeof target === 'string' ? { REDIS_URL: target } : target;
  const mode = redisMode(t);
  if (mode === 'cluster') return createRedis(t, { connectionName: 'jobs-monitor-bullmq' });
  if (mode === 'sentinel') {
    return {
      ...urlOptions(t.REDIS_URL),
      sentinels: t.REDIS_SENTINELS!.map(parseHostPort),
      name: t.REDIS_SENTINEL_NAME ?? 'mymaster',
      sentinelRetryStrategy: retryStrategy,
      maxRetriesPerRequest: null,
      retryStrategy,
      reconnectOnError,
    };
  }
  return { url: t.REDIS_URL, maxRetriesPerRequest: null, retryStrategy };
}

/** Closes what {@link bullConnection} opened (a cluster client); options need nothing. */
export function closeBullConnection(connection: object): void {
  if (connection instanceof Cluster || connection instanceof Redis) connection.disconnect();
}

/** Slot of each hash tag asked so far (a key's slot never changes); one entry per queue in practice. */
const slotCache = new Map<string, number>();
const SLOT_CACHE_MAX = 10_000;

/** The hash tag of a key (what Redis Cluster hashes), or the whole key when it has none. */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The connection of the master that serves `key`'s slot now (the one a write of that key went through). */
async function clusterNodeOf(cluster: Cluster, key: string): Promise<Redis> {
  const tag = hashTagOf(key);
  let slot = slotCache.get(tag);
  if (slot === undefined) {
    slot = Number(await cluster.cluster('KEYSLOT', key));
    if (slotCache.size >= SLOT_CACHE_MAX) slotCache.clear();
    slotCache.set(tag, slot);
  }
  const nodeKey = cluster.slots[slot]?.[0];
  const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
  if (!node) throw new StoreUnavailableError(`no connection to the master of slot ${slot}`);
  return node;
}

/**
 * Redis `WAIT`: resolves with how many replicas have acknowledged every write the connection that wrote
 * `key` made so far, waiting at most `timeoutMs` for `replicas` of them. WAIT counts the writes of the
 * connection it is sent on, so with a Cluster client it goes to the connection of the master serving the
 * key's slot (a keyless command would reach any node). Transport failures reject with
 * {@link StoreUnavailableError}.
 */
export async function waitForReplicas(
  redis: Redis,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  const conn = redis instanceof Cluster ? await clusterNodeOf(redis, key) : redis;
  let timer: NodeJS.Timeout | undefined;
  // WAIT ends by itself after timeoutMs; the guard covers a server that stopped answering altogether.
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnavailableError(`WAIT got no answer within ${timeoutMs + 1000} ms`)),
      timeoutMs + 1000,
    );
  });
  try {
    return Number(await Promise.race([conn.wait(replicas, timeoutMs), guard]));
  } catch (err) {
    throw asStoreError(err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Defines a Lua script as a command on `redis` (ioredis `defineCommand`: sent once per connection, then called by
 * EVALSHA as `redis[name](...)`), unless the connection already has one by that name: several components built on
 * one shared connection each call this in their constructor. Because of that, a changed script needs a new name
 * (`jmApplyRuns4`), or connections that defined the old one keep running it. Without `numberOfKeys` the caller
 * passes the number of keys as the first argument.
 */
export function defineScript(
  redis: Pick<Redis, 'defineCommand'>,
  name: string,
  script: { lua: string; numberOfKeys?: number },
): void {
  if ((redis as unknown as Record<string, unknown>)[name]) return;
  redis.defineCommand(name, script);
}

/** Resolves once the connection is ready (a fail-fast connection refuses commands before that). */
export function waitReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not reachable after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** How long {@link checkReachable} waits for Redis by default before it explains how to start one. */
export const FIRST_CONNECT_TIMEOUT_MS = 3000;

/**
 * `npm start` without Redis must end within 5 s (npm's own start-up takes about half a second, more on a busy
 * machine): the first-run check gets what is left of this since the process started (module loading counts),
 * and at least {@link FIRST_RUN_MIN_PROBE_MS}. 3 s leaves ~1.5 s for npm and the exit on a loaded host (3.5 s
 * once ended at 5.1 s under a full test run).
 */
export const FIRST_RUN_DEADLINE_MS = 3000;
export const FIRST_RUN_MIN_PROBE_MS = 1000;

/** The first-run check's timeout for a process that has been up `uptimeMs` (see {@link FIRST_RUN_DEADLINE_MS}). */
export function firstRunProbeMs(uptimeMs: number): number {
  return Math.round(Math.max(FIRST_RUN_MIN_PROBE_MS, FIRST_RUN_DEADLINE_MS - uptimeMs));
}

/** Where the target points, for a message (credentials never shown). */
export function describeTarget(target: RedisTarget): string {
  const mode = redisMode(target);
  if (mode === 'cluster')
    return `Redis Cluster ${target.REDIS_CLUSTER_NODES!.join(',')} (REDIS_CLUSTER_NODES)`;
  if (mode === 'sentinel')
    return `Sentinel ${target.REDIS_SENTINELS!.join(',')} (REDIS_SENTINELS, master "${target.REDIS_SENTINEL_NAME ?? 'mymaster'}")`;
  try {
    const u = new URL(target.REDIS_URL);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname} (REDIS_URL)`;
  } catch {
    return 'REDIS_URL';
  }
}

/**
 * The first-run check: resolves when Redis answers within `timeoutMs`, else rejects with a message that
 * says where it looked and how to start one (what `npm start` prints before it exits).
 */
export async function checkReachable(
  target: RedisTarget,
  timeoutMs = FIRST_CONNECT_TIMEOUT_MS,
): Promise<void> {
  const probe = createRedis(target, { failFast: true, connectionName: 'jobs-monitor-probe' });
  const single = redisMode(target) === 'single';
  // The probe's errors are the answer: a single server that refuses the connection is not there (say so at
  // once instead of waiting); otherwise the last one is named when time runs out.
  let lastError: NodeJS.ErrnoException | undefined;
  let refused: ((err: Error) => void) | undefined;
  probe.on('error', (err: NodeJS.ErrnoException) => {
    lastError = err;
    if (single && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH'].includes(err.code ?? '')) refused?.(err);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      refused = reject;
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      waitReady(probe, timeoutMs)
        .then(() => probe.ping())
        .then(() => resolve(), reject);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const last = lastError ? `: ${lastError.code ?? lastError.message.replace(/\.$/, '')}` : '';
    const why = code ?? `no answer after ${(timeoutMs / 1000).toFixed(1)} s${last}`;
    throw new Error(
      `Redis is not reachable at ${describeTarget(target)} (${why}).\n` +
        'Jobs Monitor keeps its queues and run history in Redis. Start one, then run npm start again:\n' +
        '  docker compose up -d redis      (from this folder), or\n' +
        '  redis-server                    (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)\n' +
        'or point REDIS_URL (REDIS_CLUSTER_NODES, REDIS_SENTINELS) at yours.',
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
    refused = undefined;
    probe.disconnect();
  }
}
