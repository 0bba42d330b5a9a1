import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RedisKeys } from '../queues/redis-keys';

/** A `{run_id, by}` request on {@link RedisKeys.cancelChannel}, as JobsService.cancel publishes it. */
interface CancelMessage {
  run_id: string;
  by: string;
}

/**
 * Listens, in every worker process, for cancel requests (Redis pub/sub on `{jm}:runs:cancel`, on its own
 * subscriber connection) and hands each to `cancel` (`WorkerPool.cancel`): the process running that run
 * aborts it; the others ignore the message. Pub/sub is fire-and-forget: a worker that is reconnecting misses
 * the message, and the operator can send the cancel again.
 */
export class CancelListener {
  private sub: Redis | undefined;
  private readonly channel: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly cancel: (runId: string, by: string) => boolean,
    private readonly logger: Logger,
  ) {
    this.channel = new RedisKeys(prefix).cancelChannel;
  }

  async start(): Promise<void> {
    const sub = this.redis.duplicate();
    this.sub = sub;
    sub.on('error', (err) => this.logger.warn({ err }, 'cancel_listener_error'));
    sub.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      let msg: CancelMessage;
      try {
        msg = JSON.parse(raw) as CancelMessage;
      } catch {
        return;
      }
      if (typeof msg?.run_id !== 'string') return;
      const by = typeof msg.by === 'string' ? msg.by.slice(0, 200) : 'an operator';
      if (this.cancel(msg.run_id, by)) this.logger.info({ run_id: msg.run_id, by }, 'run_cancel_requested');
    });
    await sub.subscribe(this.channel);
  }

  async stop(): Promise<void> {
    const sub = this.sub;
    this.sub = undefined;
    if (!sub) return;
    await sub.quit().catch(() => sub.disconnect());
  }
}
