import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RetryClaim, RetryClaims } from '../monitor/retry-claims';
import { RUN_RETENTION_SECONDS } from '../monitor/run';
import { RedisKeys } from './redis-keys';

/** How long a claim may stay "being made" before another caller may try again (a process that died). */
const PENDING_MS = 60_000;
const PENDING = 'pending:';

/** Deletes the claim only while it is still this caller's pending one. */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Retry claims in Redis ({@link RedisKeys.retryClaim}): `SET NX` of a pending token, replaced by the new run's
 * id once the retry is made (kept as long as runs are), so every API process, the bot and bulk actions agree
 * that a failed run is retried once.
 */
export class RedisRetryClaims implements RetryClaims {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  async claim(runId: string): Promise<RetryClaim> {
    const token = `${PENDING}${randomBytes(8).toString('hex')}`;
    const key = this.keys.retryClaim(runId);
    if ((await this.redis.set(key, token, 'PX', PENDING_MS, 'NX')) === 'OK') return { ok: true, token };
    const held = await this.redis.get(key);
    if (held === null) return this.claim(runId); // expired between the two commands
    return { ok: false, retried_by: held.startsWith(PENDING) ? null : held };
  }

  async confirm(runId: string, newRunId: string): Promise<void> {
    await this.redis.set(this.keys.retryClaim(runId), newRunId, 'EX', RUN_RETENTION_SECONDS);
  }

  async release(runId: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.keys.retryClaim(runId), token);
  }
}
