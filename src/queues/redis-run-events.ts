import type { Redis } from 'ioredis';
import type { RunEvent, RunEventBus } from '../monitor/run-events';

/** Largest message published at once; bigger batches are split so subscribers never parse huge payloads. */
const MAX_EVENTS_PER_MESSAGE = 200;

/**
 * Run events over Redis pub/sub on `${prefix}:jm:run-events`: every tracker publishes what it stored, every
 * API process subscribes once (a dedicated connection, duplicated from the given one) and fans out to its
 * SSE clients. Pub/sub keeps nothing, which is what a live view wants: a page that reconnects reloads its
 * state from the API instead of replaying.
 */
export class RedisRunEventBus implements RunEventBus {
  readonly channel: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.channel = `${prefix}:jm:run-events`;
  }

  async publish(events: readonly RunEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE) {
      await this.redis.publish(this.channel, JSON.stringify(events.slice(i, i + MAX_EVENTS_PER_MESSAGE)));
    }
  }

  async subscribe(onEvents: (events: RunEvent[]) => void): Promise<{ close(): Promise<void> }> {
    const sub = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        return;
      }
      if (Array.isArray(parsed)) onEvents(parsed.filter(isRunEvent));
    });
    await sub.subscribe(this.channel);
    return {
      close: async () => {
        sub.disconnect();
      },
    };
  }
}

function isRunEvent(v: unknown): v is RunEvent {
  const e = v as RunEvent;
  return (
    !!e &&
    typeof e.type === 'string' &&
    typeof e.run_id === 'string' &&
    (typeof e.job_id === 'string' || e.job_id === null)
  );
}
