import pino, { type Logger } from 'pino';

/** Field names whose values are URLs: logged through {@link redactUrl}, not blanked. */
const URL_FIELDS = ['url', 'href', 'recording_url', 'webhook', 'endpoint', 'location', 'api_root'];

/** Paths pino blanks out wherever they appear in a log line: tokens and credentials never reach the log. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
  'DB_HEALTH_TOKEN',
  '*.DB_HEALTH_TOKEN',
  'API_TOKENS',
  '*.API_TOKENS',
  'TELEGRAM_BOT_TOKEN',
  '*.TELEGRAM_BOT_TOKEN',
  'bot_token',
  '*.bot_token',
  'password',
  '*.password',
  'webhook_url',
  '*.webhook_url',
  // URL-valued fields keep the address but lose userinfo and secret query parameters (see redactUrl).
  ...URL_FIELDS.flatMap((f) => [f, `*.${f}`]),
  // Error messages and stacks may quote a URL (fetch does, with the credentials in it).
  'err',
  '*.err',
];

/** Query parameters whose values are secrets (compared lower-case; `x-amz-*` by prefix). */
const SECRET_PARAMS = new Set([
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'key',
  'apikey',
  'api_key',
  'secret',
  'client_secret',
  'sig',
  'signature',
  'password',
  'pass',
  'pwd',
  'auth',
  'authorization',
  'code',
  'session',
  'credential',
]);

const isSecretParam = (name: string) => {
  const n = name.toLowerCase();
  return SECRET_PARAMS.has(n) || n.startsWith('x-amz-') || n.startsWith('x-goog-');
};

/**
 * A URL safe to log or put in an error: userinfo becomes `***@` and the values of secret-looking query
 * parameters (token, key, secret, sig, signature, password, auth, access_token, X-Amz-*, ...) become `***`.
 * Text that is not a URL is returned unchanged. Use it for every URL that reaches a log line or an error.
 */
export function redactUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return raw;
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
    changed = true;
  }
  // A Telegram Bot API URL carries the bot token in its path (`/bot<id>:<secret>/sendMessage`).
  const path = u.pathname.replace(/\/bot\d+:[^/]+/g, '/bot***');
  if (path !== u.pathname) {
    u.pathname = path;
    changed = true;
  }
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (isSecretParam(name)) {
      u.searchParams.set(name, '***');
      changed = true;
    }
  }
  return changed ? u.toString() : raw;
}

/** {@link redactUrl} applied to every URL inside a free text (an error message, a stack). */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (m) => redactUrl(m));
}

/** Fields blanked wherever they appear inside a logged error (lower-case). */
const SECRET_FIELDS = new Set([
  'token',
  'authorization',
  'cookie',
  'password',
  'bot_token',
  'webhook_url',
  'db_health_token',
  'api_tokens',
  'telegram_bot_token',
]);
/** How deep a logged error's own fields are cleaned; anything deeper is left out. */
const ERR_DEPTH = 5;

/**
 * A serialized error (pino's err serializer ran first) made safe to log: every string in it, at any depth
 * (its message and stack, a wrapped error's — grammY's HttpError keeps the fetch error that quotes the Bot
 * API URL — and any other field), has its URLs redacted; secret-named fields are blanked.
 */
function cleanErr(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactUrlsIn(value);
  if (!value || typeof value !== 'object') return value;
  if (depth >= ERR_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((v) => cleanErr(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELDS.has(k.toLowerCase()) ? '[redacted]' : cleanErr(v, depth + 1);
  }
  return out;
}

/** What pino puts in place of a redacted value: URLs and errors are cleaned, anything else blanked. */
function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1];
  if (field === 'err') return cleanErr(value, 0);
  if (URL_FIELDS.includes(field)) return typeof value === 'string' ? redactUrl(value) : value;
  return '[redacted]';
}

/** pino's `redact` option: every logger of the project (and the tests' memory logger) uses it. */
export const REDACT = { paths: REDACT_PATHS, censor };

export type { Logger };

/** The root logger; components take `logger.child({ role, queue, job_id, run_id })`. */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ sync: false }),
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: REDACT,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

let stderrFallback: Logger | null = null;

/**
 * A warn-level logger to stderr, shared, for a component built without a logger of its caller's (tests, tools):
 * its errors still go somewhere instead of being dropped.
 */
export function stderrLogger(): Logger {
  stderrFallback ??= createLogger('warn', pino.destination(2));
  return stderrFallback;
}
