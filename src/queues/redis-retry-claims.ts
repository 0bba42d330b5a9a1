import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RetryClaim, RetryClaims } from '../monitor/retry-claims';
import { RUN_RETENTION_SECONDS } from '../monitor/run';
import { RedisKeys } from './redis-keys';
import { releaseIfHolder, takeOrHolder } from './redis-lock';

/** How long a claim may stay "being made" before another caller may try again (a process that died). */
const PENDING_MS = 60_000;
const PENDING = 'pending:';

/**
 * Retry claims in Redis ({@link RedisKeys.retryClaim}), on the lock primitive of src/queues/redis-lock.ts: a
 * pending token taken with `SET NX PX` ({@link takeOrHolder}; `takeOverPending` replaces a holder still pending,
 * as its maker may have died and the retry's id is deterministic, so making it again is harmless), replaced by
 * the new run's id once the retry is made (kept as long as runs are), and released by its token only
 * ({@link releaseIfHolder}). So every API process, the bot and bulk actions agree that a failed run is retried
 * once.
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
    const held = await takeOrHolder(this.redis, this.keys.retryClaim(runId), token, PENDING_MS, {
      takeOverPrefix: opts.takeOverPending ? PENDING : undefined,
    });
    if (held === null) return { ok: true, token };
    return { ok: false, retried_by: held.startsWith(PENDING) ? null : held };
  }

  async confirm(runId: string, newRunId: string): Promise<void> {
    await this.redis.set(this.keys.retryClaim(runId), newRunId, 'EX', RUN_RETENTION_SECONDS);
  }

  async release(runId: string, token: string): Promise<void> {
    await releaseIfHolder(this.redis, this.keys.retryClaim(runId), token);
  }
}
