import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

/**
 * How long an episode lasts without a new error when nothing reports recovery.
 * @defaultValue 60 000 ms
 */
export const EPISODE_QUIET_MS = 60_000;

/** Logs an episode of errors once: the first error at `warn` (with `{ err }`, stack kept), the end at `info`. */
export interface EpisodeLog {
  /** The first error of an episode is logged; the rest of the episode only counts. */
  error(err: unknown): void;
  /** Ends the episode (logs `<msg>_recovered` with how many errors it had). */
  recovered(): void;
}

/**
 * For errors that repeat while something is down (a reconnecting connection, a retry loop): one log line per
 * episode instead of none (an error dropped silently hides a dead loop) or thousands. An episode ends on
 * `recovered()` or after {@link EPISODE_QUIET_MS} without an error.
 */
export function logOncePerEpisode(
  logger: Logger,
  msg: string,
  fields: Record<string, unknown> = {},
): EpisodeLog {
  let count = 0;
  let last = 0;
  return {
    error(err) {
      const now = Date.now();
      if (count > 0 && now - last > EPISODE_QUIET_MS) count = 0;
      last = now;
      if (count++ === 0) logger.warn({ ...fields, err }, msg);
    },
    recovered() {
      if (count === 0) return;
      logger.info({ ...fields, errors: count }, `${msg}_recovered`);
      count = 0;
    },
  };
}

/**
 * Listens to `emitter`'s `'error'` (so it never crashes the process) and logs each episode once; `readyEvent`
 * (default `'ready'`, as ioredis emits on reconnect; `null` for emitters without one) ends an episode.
 */
export function logErrorsOncePerEpisode(
  emitter: EventEmitter,
  logger: Logger,
  msg: string,
  fields: Record<string, unknown> = {},
  readyEvent: string | null = 'ready',
): void {
  const episode = logOncePerEpisode(logger, msg, fields);
  emitter.on('error', (err: unknown) => episode.error(err));
  if (readyEvent) emitter.on(readyEvent, () => episode.recovered());
}
