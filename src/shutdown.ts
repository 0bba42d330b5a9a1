import type { Logger } from 'pino';

/**
 * Stops `system` gracefully on the first SIGTERM or SIGINT (workers finish their active jobs within the grace
 * period, the API drains), logs `shutdown_started`/`shutdown_complete`, runs `afterStop`, then exits 0
 * (1 when stopping failed). Later signals are ignored while it stops.
 */
export function stopOnSignals(
  system: { stop(): Promise<void> },
  logger: Logger,
  afterStop: () => void = () => undefined,
): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutdown_started');
    system
      .stop()
      .then(() => {
        logger.info({}, 'shutdown_complete');
        logger.flush();
        afterStop();
        setTimeout(() => process.exit(0), 50);
      })
      .catch((err) => {
        logger.error({ err: (err as Error).message }, 'shutdown_failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
