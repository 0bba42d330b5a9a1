import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RetryClaim, RetryClaims } from '../monitor/retry-claims';
import { RUN_RETENTION_SECONDS } from '../monitor/run';
import { RedisKeys } from './redis-keys';

/** How long a claim may stay "being made" before another caller may try again (a process that died). */
const PENDING_MS = 60_000;
const PENDING = 'pending:';

/**
 * Takes the claim (nil), or answers who holds it. ARGV[3]=1 takes over a claim still pending (its maker may
 * have died; the retry's id is deterministic, so making it again is harmless).
 */
const CLAIM_LUA = `local cur = redis.call('GET', KEYS[1])
if cur and not (ARGV[3] == '1' and string.sub(cur, 1, 8) == 'pending:') then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`;

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

  async claim(runId: string, opts: { takeOverPending?: boolean } = {}): Promise<RetryClaim> {
    const token = `${PENDING}${randomBytes(8).toString('hex')}`;
    const held = (await this.redis.eval(
      CLAIM_LUA,
      1,
      this.keys.retryClaim(runId),
      token,
      String(PENDING_MS),
      opts.takeOverPending ? '1' : '0',
    )) as string | null;
    if (held === null) return { ok: true, token };
    return { ok: false, retried_by: held.startsWith(PENDING) ? null : held };
  }

  async confirm(runId: string, newRunId: string): Promise<void> {
    await this.redis.set(this.keys.retryClaim(runId), newRunId, 'EX', RUN_RETENTION_SECONDS);
  }

  async release(runId: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.keys.retryClaim(runId), token);
  }
}
