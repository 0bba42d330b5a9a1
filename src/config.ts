import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, formatPath } from './config-file';

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

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000, 0),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  MONGO_URL: optionalString.pipe(url(['mongodb:', 'mongodb+srv:']).optional()),
  MONGO_DB: z.string().default('jobs_monitor'),
  DB_HEALTH_TOKEN: optionalString.pipe(
    z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  ),
  JOBS_CONFIG: z.string().default('config/jobs.yml'),
  ALERTS_CONFIG: z.string().default('config/alerts.yml'),
  ROLES: z
    .string()
    .default(ALL_ROLES.join(','))
    .transform((v) =>
      v
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(ALL_ROLES, { error: `expected a comma list of ${ALL_ROLES.join(', ')}` })).min(1)),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9{}_-]{1,64}$/, { error: 'expected letters, digits, _ - { }' })
    .default('{jm}'),
  WORKER_CONCURRENCY: int(5, 1),
  SHUTDOWN_GRACE_SECONDS: num(30),
  JOB_ATTEMPTS: int(3, 1),
  JOB_BACKOFF_MS: int(5000, 0),
  JOB_RETENTION_SECONDS: int(24 * 3600, 1),
  EVENTS_MAX_LEN: int(100_000, 1000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBAPP_URL: optionalString.pipe(url(['http:', 'https:']).optional()),
  JOBS_STUCK_THRESHOLD_MINUTES: num(20),
  JOBS_STUCK_MONITOR_INTERVAL_SECS: num(60),

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
  TELEGRAM_ADMIN_IDS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^-?\d{1,20}$/, { error: 'expected a comma list of numeric ids' }))),
  /** When set, the bot receives updates on this URL (served by the API role) instead of long polling. */
  TELEGRAM_WEBHOOK_URL: optionalString.pipe(url(['https:', 'http:']).optional()),
  /** Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; derived from the bot token when unset. */
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/, { error: 'expected 1-256 letters, digits, _ or -' })
      .optional(),
  ),
  /** Language of the bot's messages. */
  BOT_LOCALE: z.enum(['en', 'he'], { error: 'expected en or he' }).default('en'),
});

export type Env = z.output<typeof envSchema>;

/** Validated configuration for one process; every default lives in this file. */
export interface Config extends Env {
  ROLES: Role[];
  /** The API token; generated when unset outside production. */
  DB_HEALTH_TOKEN: string;
  /** True when DB_HEALTH_TOKEN was generated for this process. */
  tokenGenerated: boolean;
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
  let token = cfg.DB_HEALTH_TOKEN;
  let tokenGenerated = false;
  if (!token) {
    if (cfg.NODE_ENV === 'production') {
      throw new ConfigError('environment: DB_HEALTH_TOKEN: required in production (at least 16 characters)');
    }
    token = randomBytes(24).toString('hex');
    tokenGenerated = true;
  }
  return { ...cfg, DB_HEALTH_TOKEN: token, tokenGenerated };
}
