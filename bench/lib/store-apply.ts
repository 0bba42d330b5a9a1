/**
 * Micro-benchmark of RedisRunStore.apply for profiling the Lua: 20,000 runs created, then finished, in
 * batches of 200; prints Redis CPU µs per run (INFO cpu). `npx tsx bench/lib/store-apply.ts`
 */
import { RedisRunStore } from '../../src/store/redis-run-store';
import { benchRedis, benchPrefix, deletePrefix } from './redis';
import { seqFromEventId, type RunUpdate } from '../../src/monitor/run';
async function main(): Promise<void> {
  const redis = benchRedis();
  const prefix = benchPrefix('micro');
  const store = new RedisRunStore(redis, { prefix });
  const N = 20000,
    B = 200;
  const t0 = Date.now() - 1000;
  const ident = (i: number) => ({
    job_id: 'bench_job',
    queue: 'bench',
    created_at: new Date(t0 + i).toISOString(),
    trigger: 'api' as const,
    user_id: null,
  });
  const cpu = async () => {
    const s = await redis.info('cpu');
    return [...s.matchAll(/used_cpu_(sys|user):([\d.]+)/g)].reduce((a, m) => a + Number(m[2]), 0);
  };
  for (const phase of ['create', 'finish'] as const) {
    const c0 = await cpu();
    const w0 = Date.now();
    for (let i = 0; i < N; i += B) {
      const batch: RunUpdate[] = [];
      for (let k = i; k < i + B; k++)
        batch.push(
          phase === 'create'
            ? {
                run_id: `r${k}`,
                seq: seqFromEventId(`${t0 + k}-0`),
                identity: ident(k),
                patch: { status: 'pending' },
                logs: [],
              }
            : {
                run_id: `r${k}`,
                seq: seqFromEventId(`${t0 + 100000 + k}-0`),
                identity: ident(k),
                patch: {
                  status: 'completed',
                  progress: 100,
                  started_at: new Date().toISOString(),
                  ended_at: new Date().toISOString(),
                  duration_ms: 3,
                  attempts: 1,
                  stalls: 0,
                  worker: 'h:1',
                  error_message: null,
                  result: null,
                },
                logs: [],
              },
        );
      await store.apply(batch);
    }
    const c1 = await cpu();
    console.log(
      `${phase}: redis cpu ${(((c1 - c0) * 1e6) / N).toFixed(0)} us/run, wall ${Date.now() - w0} ms`,
    );
  }
  await deletePrefix(redis, prefix);
  await redis.quit();
}
void main();
