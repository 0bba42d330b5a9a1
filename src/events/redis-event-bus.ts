import type { Redis } from 'ioredis';
import type { EventBus, EventFields, EventName } from '../monitor/events';
import { RedisKeys } from '../queues/redis-keys';
import { ONCE_GUARD_LUA, ttlMs } from '../queues/redis-lock';

/** Events kept in the stream (approximate cap); the alert engine normally reads them within a second. */
export const EVENTS_STREAM_MAX_LEN = 10_000;

const EMIT_ONCE_LUA = `${ONCE_GUARD_LUA}
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'name', ARGV[4], 'fields', ARGV[5], 'time', ARGV[6])
return 1`;

/**
 * EventBus on a Redis stream ({@link RedisKeys.eventsStream}). `emitOnce` sets its key and appends the event in one
 * Lua script, so of several processes reporting the same thing exactly one event is written.
 */
export class RedisEventBus implements EventBus {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  async emit(name: EventName, fields: EventFields): Promise<void> {
    await this.redis.xadd(
      this.keys.eventsStream,
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
      this.keys.eventOnce(key),
      this.keys.eventsStream,
      '1',
      ttlMs(ttlSeconds * 1000),
      EVENTS_STREAM_MAX_LEN,
      name,
      JSON.stringify(fields),
      String(this.now()),
    );
    return res === 1;
  }

  async forget(key: string): Promise<void> {
    await this.redis.del(this.keys.eventOnce(key));
  }
}
