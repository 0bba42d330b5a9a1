import type { Processor } from '../processor-context';

/** Payload accepted by the example job; every field is optional. */
export interface CacheWarmingPayload {
  items?: number;
  /** Total run time to spread the items over. */
  duration_ms?: number;
}

/**
 * EXAMPLE job (`cache_warming` in config/jobs.yml): "warms" 1,000 simulated items in about 5 seconds,
 * reporting progress and a log line every 100 items. Copy it as the template for a real processor.
 */
export const cacheWarming: Processor<CacheWarmingPayload | undefined> = async (ctx) => {
  const total = ctx.data?.items ?? 1000;
  const durationMs = ctx.data?.duration_ms ?? 5000;
  const step = 100;
  ctx.log(`warming ${total} items`);
  for (let done = 0; done < total; ) {
    if (ctx.signal.aborted) throw new Error('aborted');
    const n = Math.min(step, total - done);
    await new Promise((r) => setTimeout(r, (durationMs * n) / total));
    done += n;
    await ctx.progress(done, total);
    ctx.log(`warmed ${done}/${total} items`);
  }
  return { warmed: total };
};
