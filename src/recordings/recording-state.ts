import type { Redis } from 'ioredis';
import { RedisKeys } from '../queues/redis-keys';

// Atomically moves a call to its next download generation, if it is still at the expected one.
// With ARGV[2]=1 the move is a recovery attempt: INCR the counter (TTL = window from the first attempt);
// past the maximum the generation stays where it is and nothing new may be enqueued.
const ADVANCE = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= tonumber(ARGV[1]) then return {-1, cur} end
local n
if ARGV[2] == '1' then
  n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3])) end
  if n > tonumber(ARGV[4]) then return {0, n} end
else
  n = tonumber(redis.call('GET', KEYS[2]) or '0')
end
redis.call('SET', KEYS[1], cur + 1)
return {cur + 1, n}`;

// An operator's retry: moves the call to its next generation if it is still at the expected one, and forgets
// its recovery attempts (a fresh window).
const RESTART = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= tonumber(ARGV[1]) then return {-1, cur} end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], cur + 1)
return {cur + 1, 0}`;

/** Result of {@link RecordingState.advance}. */
export type AdvanceResult =
  | { outcome: 'advanced'; generation: number; attempts: number }
  | { outcome: 'exhausted'; attempts: number }
  /** Another request moved the call first; re-read the state. */
  | { outcome: 'lost'; generation: number };

/**
 * Per-call download state in Redis, shared by every API process and worker:
 * {@link RedisKeys.recordingGeneration} (current download generation) and
 * {@link RedisKeys.recordingRetryAttempts} (recovery attempts, INCR with a TTL of the window).
 */
export class RecordingState {
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly windowSeconds: number,
    private readonly maxAttempts: number,
    private readonly keys = new RedisKeys(prefix),
  ) {}

  genKey(callSid: string): string {
    return this.keys.recordingGeneration(callSid);
  }

  attemptsKey(callSid: string): string {
    return this.keys.recordingRetryAttempts(callSid);
  }

  /** Current generation and attempts, in one round trip. */
  async read(callSid: string): Promise<{ generation: number; attempts: number }> {
    const [gen, attempts] = await this.redis.mget(this.genKey(callSid), this.attemptsKey(callSid));
    return { generation: Number(gen ?? 0), attempts: Number(attempts ?? 0) };
  }

  /** Current generation only (workers use it to skip superseded downloads). */
  async generation(callSid: string): Promise<number> {
    return Number((await this.redis.get(this.genKey(callSid))) ?? 0);
  }

  /** Compare-and-set to generation `from + 1`; exactly one concurrent caller wins. */
  async advance(callSid: string, from: number, countAttempt: boolean): Promise<AdvanceResult> {
    const [a, b] = (await this.redis.eval(
      ADVANCE,
      2,
      this.genKey(callSid),
      this.attemptsKey(callSid),
      String(from),
      countAttempt ? '1' : '0',
      String(this.windowSeconds),
      String(this.maxAttempts),
    )) as [number, number];
    if (a === -1) return { outcome: 'lost', generation: b };
    if (a === 0) return { outcome: 'exhausted', attempts: b };
    return { outcome: 'advanced', generation: a, attempts: b };
  }

  /**
   * An operator's retry: compare-and-set to generation `from + 1` with the attempts forgotten (a fresh retry
   * window); `lost` when another request moved the call first.
   */
  async restart(
    callSid: string,
    from: number,
  ): Promise<{ outcome: 'advanced'; generation: number } | { outcome: 'lost'; generation: number }> {
    const [a, b] = (await this.redis.eval(
      RESTART,
      2,
      this.genKey(callSid),
      this.attemptsKey(callSid),
      String(from),
    )) as [number, number];
    return a === -1 ? { outcome: 'lost', generation: b } : { outcome: 'advanced', generation: a };
  }

  /** A new URL for the call: forget the attempts and supersede any download of the old one. */
  async reset(callSid: string): Promise<void> {
    await this.redis.multi().del(this.attemptsKey(callSid)).incr(this.genKey(callSid)).exec();
  }
}
