import pino, { type Logger } from 'pino';

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
  'TELEGRAM_BOT_TOKEN',
  '*.TELEGRAM_BOT_TOKEN',
  'bot_token',
  '*.bot_token',
  'password',
  '*.password',
  'webhook_url',
  '*.webhook_url',
];

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
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
