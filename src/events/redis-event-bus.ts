import type { Redis } from 'ioredis';
import type { EventBus, EventFields, EventName } from '../monitor/events';

/** Events kept in the stream (approximate cap); the alert engine normally reads them within a second. */
export const EVENTS_STREAM_MAX_LEN = 10_000;

const EMIT_ONCE_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'name', ARGV[3], 'fields', ARGV[4], 'time', ARGV[5])
  return 1
end
return 0`;

/** Key names of the event stream, shared by the bus and the consumer. */
export function eventKeys(prefix: string) {
  return { stream: `${prefix}:events`, once: `${prefix}:events:once:` };
}

/**
 * EventBus on a Redis stream (`<prefix>:events`). `emitOnce` sets its key and appends the event in one
 * Lua script, so of several processes reporting the same thing exactly one event is written.
 */
export class RedisEventBus implements EventBus {
  private readonly keys: ReturnType<typeof eventKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = eventKeys(prefix);
  }

  async emit(name: EventName, fields: EventFields): Promise<void> {
    await this.redis.xadd(
      this.keys.stream,
      'MAXLEN',
      '~',
      EVENTS_STREAM_MAX_LEN,
      '*',
      'name',
      name,
      'fields',
      JSON.stringify(fields),
      'time',
      String(this.now()),
    );
  }

  async emitOnce(key: string, ttlSeconds: number, name: EventName, fields: EventFields): Promise<boolean> {
    const res = await this.redis.eval(
      EMIT_ONCE_LUA,
      2,
      this.keys.once + key,
      this.keys.stream,
      Math.max(1, Math.round(ttlSeconds * 1000)),
      EVENTS_STREAM_MAX_LEN,
      name,
      JSON.stringify(fields),
      String(this.now()),
    );
    return res === 1;
  }

  async forget(key: string): Promise<void> {
    await this.redis.del(this.keys.once + key);
  }
}
