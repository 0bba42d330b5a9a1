import type { Logger } from 'pino';
import type { StopReport } from './launcher';

/**
 * Extra time past SHUTDOWN_GRACE_SECONDS after which the process exits whatever is still pending (a stop that
 * hangs on a frozen Redis, MongoDB or Telegram must not keep the process alive).
 * @defaultValue 5000 ms
 */
export const SHUTDOWN_BACKSTOP_MS = 5000;

/**
 * Stops `system` on the first SIGTERM or SIGINT with a deadline of now + SHUTDOWN_GRACE_SECONDS (workers finish
 * their active jobs, the API drains), logs `shutdown_started`, runs `afterStop`, then exits: 0 with
 * `shutdown_complete` when every part stopped in time; 1 with `shutdown_incomplete` naming the abandoned parts
 * otherwise. Whatever happens, the process exits (1, `shutdown_timeout`, naming the parts not stopped yet as
 * `abandoned`) by the deadline plus {@link SHUTDOWN_BACKSTOP_MS}. Later signals are ignored while it stops.
 */
export function stopOnSignals(
  system: {
    stop(deadline?: number): Promise<StopReport | undefined>;
    /** The parts not stopped yet, which the backstop names as abandoned. */
    unfinished?(): string[];
    config: { SHUTDOWN_GRACE_SECONDS: number };
  },
  logger: Logger,
  afterStop: () => void = () => undefined,
): void {
  let stopping = false;
  const exit = (code: number) => {
    logger.flush();
    setTimeout(() => process.exit(code), 50);
  };
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = system.config.SHUTDOWN_GRACE_SECONDS * 1000;
    const deadline = Date.now() + graceMs;
    logger.info({ signal, grace_ms: graceMs }, 'shutdown_started');
    setTimeout(() => {
      logger.error(
        { waited_ms: graceMs + SHUTDOWN_BACKSTOP_MS, abandoned: system.unfinished?.() ?? [] },
        'shutdown_timeout',
      );
      exit(1);
    }, graceMs + SHUTDOWN_BACKSTOP_MS).unref();
    system
      .stop(deadline)
      .then((report) => {
        afterStop();
        if (report?.abandoned.length) {
          logger.error({ abandoned: report.abandoned }, 'shutdown_incomplete');
          exit(1);
          return;
        }
        logger.info({}, 'shutdown_complete');
        exit(0);
      })
      .catch((err) => {
        logger.error({ err }, 'shutdown_failed');
        exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
