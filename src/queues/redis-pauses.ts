import type { Redis } from 'ioredis';
import type { JobPause, PauseStore } from '../monitor/pauses';
import { RedisKeys } from './redis-keys';

/** Paused jobs in one Redis hash ({@link RedisKeys.pausedJobs}): job_id → JSON `{paused_by, paused_at}`. */
export class RedisPauseStore implements PauseStore {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = new RedisKeys(prefix).pausedJobs;
  }

  async all(): Promise<Record<string, JobPause>> {
    const raw = await this.redis.hgetall(this.key);
    const out: Record<string, JobPause> = {};
    for (const [jobId, v] of Object.entries(raw)) {
      const p = parse(v);
      if (p) out[jobId] = p;
    }
    return out;
  }

  async get(jobId: string): Promise<JobPause | null> {
    return parse(await this.redis.hget(this.key, jobId));
  }

  async pause(jobId: string, pause: JobPause): Promise<JobPause> {
    await this.redis.hsetnx(this.key, jobId, JSON.stringify(pause));
    return (await this.get(jobId)) ?? pause;
  }

  async resume(jobId: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, jobId)) === 1;
  }
}

function parse(v: string | null | undefined): JobPause | null {
  if (!v) return null;
  try {
    const p = JSON.parse(v) as JobPause;
    return typeof p?.paused_by === 'string'
      ? p
      : { paused_by: 'unknown', paused_at: String(p?.paused_at ?? '') };
  } catch {
    return { paused_by: 'unknown', paused_at: '' };
  }
}
