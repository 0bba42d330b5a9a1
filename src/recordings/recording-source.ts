import type { Redis } from 'ioredis';
import { RedisKeys } from '../queues/redis-keys';

/**
 * Where a call's recording URL comes from. The default is {@link RedisRecordingSource}, fed by
 * `PUT /api/recordings/{call_sid}`; a host application can plug in its own lookup (its calls table).
 */
export interface RecordingSource {
  /** The provider URL of the call's recording, or null when the call has none. */
  getRecordingUrl(callSid: string): Promise<string | null>;
}

/** A source that can also be written (the PUT endpoint needs one). */
export interface WritableRecordingSource extends RecordingSource {
  /** Registers or replaces a call's URL; returns the previous one (null when new). */
  setRecordingUrl(callSid: string, url: string): Promise<string | null>;
}

/** True when `s` is an absolute http(s) URL. */
export function isHttpUrl(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > 4096) return false;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.hostname;
  } catch {
    return false;
  }
}

/** The default source: one Redis hash {@link RedisKeys.recordingUrls} (call_sid → URL). */
export class RedisRecordingSource implements WritableRecordingSource {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = new RedisKeys(prefix).recordingUrls;
  }

  getRecordingUrl(callSid: string): Promise<string | null> {
    return this.redis.hget(this.key, callSid);
  }

  async setRecordingUrl(callSid: string, url: string): Promise<string | null> {
    const [[, prev]] = (await this.redis
      .multi()
      .hget(this.key, callSid)
      .hset(this.key, callSid, url)
      .exec()) as [[Error | null, string | null]];
    return prev;
  }
}
