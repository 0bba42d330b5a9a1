import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ConfigError, commaList, formatPath, splitCommaList } from './config-file';
import { ACCESS_ROLES, type AccessRole } from './monitor/principal';
import { parseAllowedHosts } from './recordings/address-policy';

/** The roles one process can play; `npm start` runs all of them. */
export const ALL_ROLES = ['api', 'worker', 'scheduler', 'monitor', 'bot'] as const;
export type Role = (typeof ALL_ROLES)[number];

/** Boolean env values: true/false, 1/0, yes/no. */
export const envBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0) =>
  z.coerce
    .number({ error: 'expected a number' })
    .int({ error: 'expected a whole number' })
    .min(min)
    .default(def);
const num = (def: number) =>
  z.coerce
    .number({ error: 'expected a number' })
    .positive({ error: 'expected a positive number' })
    .default(def);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));
const url = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return schemes.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { error: `expected a ${schemes.join(' or ')} URL` },
    );

/**
 * A string setting (empty when unset) read by `parse`, whose Error becomes the setting's config error (with
 * `hint` after it), e.g. `API_TOKENS: entry 2 ("ci"): role must be one of …`.
 */
function parsedWith<T>(parse: (v: string) => T, hint?: string) {
  return z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parse(v);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        ctx.addIssue({ code: 'custom', message: hint ? `${message} (${hint})` : message });
        return z.NEVER;
      }
    });
}

/** An address, a CIDR or one of Express's proxy names, as `trust proxy` accepts them. */
function isProxyAddress(v: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(v)) return true;
  if (v.includes('/')) {
    try {
      ipaddr.parseCIDR(v);
      return true;
    } catch {
      return false;
    }
  }
  return ipaddr.isValid(v);
}

/** A named API token from API_TOKENS. */
export interface ApiTokenEntry {
  name: string;
  role: AccessRole;
  token: string;
}

/** Shortest token API_TOKENS accepts (the same as DB_HEALTH_TOKEN). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Parses `API_TOKENS=name:role:token,…`. Errors name the entry by its position and name, never its token.
 * `admin` is reserved for DB_HEALTH_TOKEN.
 */
export function parseApiTokens(v: string): ApiTokenEntry[] {
  const out: ApiTokenEntry[] = [];
  splitCommaList(v).forEach((entry, i) => {
    const a = entry.indexOf(':');
    const b = a < 0 ? -1 : entry.indexOf(':', a + 1);
    const name = a < 0 ? '' : entry.slice(0, a).trim();
    const where = `entry ${i + 1}${name ? ` ("${name.slice(0, 64)}")` : ''}`;
    if (a < 0 || b < 0) throw new Error(`${where}: expected name:role:token`);
    const role = entry.slice(a + 1, b).trim();
    const token = entry.slice(b + 1).trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw new Error(`${where}: name must be 1-64 letters, digits, _ . or -`);
    if (name === 'admin') throw new Error(`${where}: the name admin is reserved for DB_HEALTH_TOKEN`);
    if (!(ACCESS_ROLES as readonly string[]).includes(role))
      throw new Error(`${where}: role must be one of ${ACCESS_ROLES.join(', ')}`);
    if (token.length < MIN_TOKEN_LENGTH || /[\s,]/.test(token))
      throw new Error(
        `${where}: token must be at least ${MIN_TOKEN_LENGTH} characters, without spaces or commas`,
      );
    if (out.some((e) => e.name === name)) throw new Error(`${where}: the name is used twice`);
    if (out.some((e) => e.token === token)) throw new Error(`${where}: the token is used twice`);
    out.push({ name, role: role as AccessRole, token });
  });
  return out;
}

const idList = commaList(z.string().regex(/^-?\d{1,20}$/, { error: 'expected a comma list of numeric ids' }));

/** A comma list of `host:port` (empty: unset). */
const hostPortList = commaList(
  z
    .string()
    .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'expected host:port,host:port' }),
);

/**
 * The database number a Redis URL selects (`redis://host:6379/2` → 2; no path → 0), or null when its path is
 * not a database number.
 */
export function redisUrlDatabase(url: string): number | null {
  const path = new URL(url).pathname;
  if (path === '' || path === '/') return 0;
  const m = /^\/(\d{1,5})$/.exec(path);
  return m ? Number(m[1]) : null;
}

/** Why a cluster can't use this REDIS_URL, or null when it can (Redis Cluster has database 0 only). */
export function clusterDatabaseProblem(url: string): string | null {
  const db = redisUrlDatabase(url);
  return db
    ? `Redis Cluster has only database 0 (it can't SELECT ${db}); remove "/${db}" from REDIS_URL or unset REDIS_CLUSTER_NODES`
    : null;
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000, 0),
  REDIS_URL: url(['redis:', 'rediss:'])
    .refine((v) => !URL.canParse(v) || redisUrlDatabase(v) !== null, {
      error: 'expected redis://[user:password@]host:port[/database number]',
    })
    .default('redis://127.0.0.1:6379'),
  /** Redis Cluster seed nodes (`host:port,…`); REDIS_URL then only gives credentials and TLS. */
  REDIS_CLUSTER_NODES: hostPortList,
  /** Sentinels (`host:port,…`) that name the master; REDIS_URL then only gives credentials and TLS. */
  REDIS_SENTINELS: hostPortList,
  REDIS_SENTINEL_NAME: z.string().trim().min(1).default('mymaster'),
  MONGO_URL: optionalString.pipe(url(['mongodb:', 'mongodb+srv:']).optional()),
  MONGO_DB: z.string().default('jobs_monitor'),
  DB_HEALTH_TOKEN: optionalString.pipe(
    z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  ),
  /** Named tokens with roles: `name:role:token,…` (role viewer, operator or admin). */
  API_TOKENS: parsedWith(parseApiTokens),
  JOBS_CONFIG: z.string().default('config/jobs.yml'),
  ALERTS_CONFIG: z.string().default('config/alerts.yml'),
  ROLES: commaList(z.enum(ALL_ROLES, { error: `expected a comma list of ${ALL_ROLES.join(', ')}` }), {
    default: ALL_ROLES.join(','),
    min: 1,
  }),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9{}_-]{1,64}$/, { error: 'expected letters, digits, _ - { }' })
    .default('{jm}'),
  WORKER_CONCURRENCY: int(5, 1),
  /** Seconds between a worker process's heartbeats; it drops out of `GET /api/jobs/workers` after 3 missed. */
  WORKER_HEARTBEAT_SECONDS: num(10),
  /**
   * Payload keys whose values the run detail masks (case-insensitive, at any depth); URL query strings are
   * cut from every value whatever this says.
   */
  REDACT_KEYS: commaList(z.string(), { default: 'url,token,password,secret,authorization' }),
  SHUTDOWN_GRACE_SECONDS: num(30),
  JOB_ATTEMPTS: int(3, 1),
  JOB_BACKOFF_MS: int(5000, 0),
  JOB_RETENTION_SECONDS: int(24 * 3600, 1),
  EVENTS_MAX_LEN: int(100_000, 1000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBAPP_URL: optionalString.pipe(url(['http:', 'https:']).optional()),
  JOBS_STUCK_THRESHOLD_MINUTES: num(20),
  JOBS_STUCK_MONITOR_INTERVAL_SECS: num(60),

  // --- Reliability (issue 8): failure handling knobs; the defaults suit production ---
  /** How often workers look for jobs whose worker died (BullMQ stalledInterval). */
  WORKER_STALLED_INTERVAL_MS: int(30_000, 100),
  /** How long a job's lock lives without renewal; a dead worker's jobs are recovered after it expires. */
  WORKER_LOCK_DURATION_MS: int(30_000, 500),
  /** Times one job may be recovered from a dead worker before it fails (BullMQ maxStalledCount). */
  WORKER_MAX_STALLED_COUNT: int(1, 0),
  /** Runs whose updates the tracker keeps in memory while the run store is down; past it the oldest drop. */
  TRACKER_MAX_BUFFERED_RUNS: int(100_000, 1),
  /**
   * How long after a job was added, completed or failed the reconciler checks that a worker recorded it
   * (else it records it from BullMQ). Longer than a worker's batch delay under load, short enough that a
   * dead worker's last runs are not missing for long.
   */
  RECONCILE_GRACE_MS: int(5000, 100),
  /**
   * Bytes a run keeps of its `result` (JSON) and of its `error_message`; longer ones are truncated with a
   * marker (see RUN_TRUNCATED_MARKER). At most 4 MiB, so a run always fits in a 16 MiB MongoDB document.
   */
  RUN_RESULT_MAX_BYTES: int(64 * 1024, 1024).pipe(
    z.number().max(4 * 1024 * 1024, { error: 'at most 4194304' }),
  ),
  /**
   * How long runs are kept (days, fractions allowed), in both stores. Unset: 7 days, but a MongoDB
   * collection whose run TTL index is longer (or that has runs and no TTL) keeps it; set: applied as it
   * is, also shortening an existing longer TTL. See runRetentionSeconds.
   */
  RUN_RETENTION_DAYS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.coerce
      .number({ error: 'expected a number of days' })
      .positive({ error: 'expected a positive number of days' })
      .max(3650, { error: 'at most 3650 (10 years)' })
      .optional(),
  ),
  /** Failed API authentications (401/403) one address may make per minute before 429; 0 turns it off. */
  AUTH_RATE_LIMIT_PER_MINUTE: int(30, 0),
  /** Longest a request-path Redis command may take before the API answers 503 store_unavailable. */
  REDIS_COMMAND_TIMEOUT_MS: int(2000, 50),
  /**
   * Replicas that must confirm a newly queued run (Redis WAIT, at most REDIS_COMMAND_TIMEOUT_MS / 2) before a
   * trigger answers 202; else 503 with the run id. 0: answer once the master has it (a failover right after
   * can lose it: replication is asynchronous).
   */
  REDIS_WAIT_REPLICAS: int(0, 0),
  /**
   * Which proxies' X-Forwarded-For the API believes (Express `trust proxy`): `false` (default: none, the
   * client is the socket's address), a hop count, or a comma list of addresses/CIDRs (or Express's names
   * loopback, linklocal, uniquelocal).
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx): false | number | string[] => {
      const t = v.trim();
      if (t === '' || t === 'false') return false;
      if (/^\d+$/.test(t)) return Number(t);
      const list = splitCommaList(t);
      const bad = list.filter((a) => !isProxyAddress(a));
      if (bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `expected false, a hop count, or a comma list of addresses/CIDRs (not ${bad.join(', ')})`,
        });
        return z.NEVER;
      }
      return list;
    }),

  // --- Alerts and metrics (issue 5); config/alerts.yml reads these through ${VAR} ---
  /** Comma list of chat ids the telegram alert channel writes to. */
  TELEGRAM_ALERT_CHAT_IDS: optionalString,
  /** Slack incoming-webhook URL; the slack alert channel is off without it. */
  SLACK_WEBHOOK_URL: optionalString.pipe(url(['http:', 'https:']).optional()),
  /** URL the webhook alert channel POSTs JSON to; off without it. */
  ALERT_WEBHOOK_URL: optionalString.pipe(url(['http:', 'https:']).optional()),
  /** true: GET /metrics answers without the bearer token. */
  METRICS_PUBLIC: envBool.default(false),

  // --- Dashboard (/jobs/monitor, /jobs/queues, /api/jobs/stream) -------------------------------------
  /** Key for signing dashboard sessions; derived from DB_HEALTH_TOKEN when unset (rotating it logs everyone out). */
  SESSION_SECRET: optionalString.pipe(
    z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
  ),
  /** How long a dashboard login lasts. */
  SESSION_TTL_HOURS: num(12),
  /**
   * true: everyone is capped at viewer — the dashboard and ChatOps show no action, Bull Board is read-only, and
   * every action (API, dashboard, ChatOps) is refused with 403 `read_only`.
   */
  DASHBOARD_READ_ONLY: envBool.default(false),
  /**
   * How often each API process looks for unfinished bulk actions (#12); one whose process died is finished by
   * another once its claim (twice this, at least 5 s) lapses.
   */
  BULK_RESUME_SECONDS: num(30),
  /** Seconds between heartbeats on GET /api/jobs/stream. */
  SSE_HEARTBEAT_SECONDS: num(15),

  // --- Recordings (src/recordings): downloads, the 200/202/404/500 polling contract, retention ---
  /** Folder the downloaded recordings are stored in. */
  RECORDINGS_DIR: z.string().trim().min(1).default('./data/recordings'),
  /** A download run queued or running longer than this is stuck (no worker took it, or the worker died). */
  RECORDING_JOB_TIMEOUT_SECONDS: int(300, 1),
  /** Recovery attempts per call are counted in Redis for this long (INCR + TTL). */
  RECORDING_RETRY_WINDOW_SECONDS: int(600, 1),
  /** Recoveries allowed per window; one more answers 500 worker_not_processing_queue. */
  RECORDING_MAX_RETRY_ATTEMPTS: int(3, 0),
  /** Recording files older than this are deleted by the recordings_retention job. */
  RECORDINGS_RETENTION_DAYS: num(30),
  /** Largest recording a download accepts, in bytes (default 200 MiB). */
  RECORDING_MAX_BYTES: int(200 * 1024 * 1024, 1),
  /** Time to open the connection to the provider, ms. */
  RECORDING_CONNECT_TIMEOUT_MS: int(10_000, 1),
  /** Longest silence while reading the provider's answer, ms. */
  RECORDING_READ_TIMEOUT_MS: int(30_000, 1),
  /** The whole download (connect, redirects, body) must end within this, s. */
  RECORDING_DOWNLOAD_TIMEOUT_SECONDS: int(120, 1),
  /** Host names, IPs or CIDRs (comma list) a download may reach although private/loopback; default none. */
  RECORDING_ALLOWED_HOSTS: parsedWith(parseAllowedHosts, 'expected a comma list of host names, IPs or CIDRs'),
  /** Retry-After (s) of a normal 202, and of a 202 while a recovery download is under way. */
  RECORDING_RETRY_AFTER_SECONDS: int(2, 1),
  RECORDING_RECOVERY_RETRY_AFTER_SECONDS: int(5, 1),

  // --- Telegram -------------------------------------------------------------------------------------
  // The bot token and API root are shared by ChatOps (the `bot` role, src/chatops) and Telegram alerts.
  /** Bot token from @BotFather; the `bot` role is off while it is unset. */
  TELEGRAM_BOT_TOKEN: optionalString,
  /** Bot API address (a local telegram-bot-api server, or a fake one in tests); grammY's `apiRoot`. */
  TELEGRAM_API_ROOT: optionalString.pipe(
    url(['http:', 'https:'])
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
  ),
  /** Chat ids and user ids allowed to use the bot (comma list); everyone else is politely refused. */
  TELEGRAM_ADMIN_IDS: idList,
  /** Chat ids and user ids that may also pause and resume jobs from the bot (role admin; comma list). */
  TELEGRAM_OWNER_IDS: idList,
  /** When set, the bot receives updates on this URL (served by the API role) instead of long polling. */
  TELEGRAM_WEBHOOK_URL: optionalString.pipe(url(['https:', 'http:']).optional()),
  /** Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; derived from the bot token when unset. */
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/, { error: 'expected 1-256 letters, digits, _ or -' })
      .optional(),
  ),
  /** Language of the bot's messages; an alias of LOCALE, used when LOCALE is unset. */
  BOT_LOCALE: z.enum(['en', 'he'], { error: 'expected en or he' }).default('en'),
  /** Language of the dashboard (with dir="rtl" for he), the recordings player, alerts and ChatOps. */
  LOCALE: optionalString.pipe(z.enum(['en', 'he'], { error: 'expected en or he' }).optional()),
});

export type Env = z.output<typeof envSchema>;

/**
 * RUN_RETENTION_DAYS in seconds (at least 60), or undefined when it is unset (the stores then use their
 * default, 7 days, and MongoDB keeps a longer existing TTL).
 */
export function runRetentionSeconds(config: Pick<Env, 'RUN_RETENTION_DAYS'>): number | undefined {
  const days = config.RUN_RETENTION_DAYS;
  return days === undefined ? undefined : Math.max(60, Math.round(days * 86_400));
}

/** Validated configuration for one process; every default lives in this file. */
export interface Config extends Env {
  ROLES: Role[];
  /** The API token; generated when unset outside production. */
  DB_HEALTH_TOKEN: string;
  /** True when DB_HEALTH_TOKEN was generated for this process. */
  tokenGenerated: boolean;
  /** LOCALE, or BOT_LOCALE when LOCALE is unset (default en). */
  LOCALE: 'en' | 'he';
}

/**
 * Reads the environment into a Config.
 * @throws ConfigError naming each bad variable, e.g. `PORT: expected a number`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `environment: ${formatPath(i.path)}: ${i.message}`);
    throw new ConfigError(problems.join('\n'), problems);
  }
  const cfg = parsed.data;
  if (
    cfg.TELEGRAM_WEBHOOK_URL &&
    cfg.TELEGRAM_BOT_TOKEN &&
    cfg.ROLES.includes('bot') &&
    !cfg.ROLES.includes('api')
  ) {
    throw new ConfigError(
      'environment: TELEGRAM_WEBHOOK_URL: the webhook is served by the api role; add api to ROLES or unset it',
    );
  }
  if (cfg.REDIS_CLUSTER_NODES.length && cfg.REDIS_SENTINELS.length) {
    throw new ConfigError(
      'environment: REDIS_SENTINELS: set REDIS_CLUSTER_NODES (Redis Cluster) or REDIS_SENTINELS (Sentinel), not both',
    );
  }
  const clusterDb = cfg.REDIS_CLUSTER_NODES.length ? clusterDatabaseProblem(cfg.REDIS_URL) : null;
  if (clusterDb) throw new ConfigError(`environment: REDIS_URL: ${clusterDb}`);
  let token = cfg.DB_HEALTH_TOKEN;
  let tokenGenerated = false;
  if (!token) {
    if (cfg.NODE_ENV === 'production') {
      throw new ConfigError('environment: DB_HEALTH_TOKEN: required in production (at least 16 characters)');
    }
    token = randomBytes(24).toString('hex');
    tokenGenerated = true;
  }
  if (cfg.API_TOKENS.some((e) => e.token === token)) {
    throw new ConfigError('environment: API_TOKENS: a token equals DB_HEALTH_TOKEN; give each its own');
  }
  const locale = cfg.LOCALE ?? cfg.BOT_LOCALE;
  return { ...cfg, DB_HEALTH_TOKEN: token, tokenGenerated, LOCALE: locale, BOT_LOCALE: locale };
}
