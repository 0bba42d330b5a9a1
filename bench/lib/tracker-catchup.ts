/**
 * Profiling harness for the tracker alone: bare BullMQ runs 20,000 no-op jobs with no tracker, then a
 * Tracker catches up on the whole events stream while the V8 profiler records only that phase
 * (written to /tmp/tracker-only.cpuprofile). Prints wall time, Redis and Node CPU per job.
 * `npx tsx bench/lib/tracker-catchup.ts`
 */
import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { Tracker } from '../../src/monitor/tracker';
import { BullmqLifecycleSource } from '../../src/queues/lifecycle-source';
import { bullConnection } from '../../src/queues/redis';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { BENCH_REDIS_URL, benchPrefix, benchRedis, deletePrefix } from './redis';
async function main(): Promise<void> {
  const redis = benchRedis();
  const prefix = benchPrefix('iso');
  const q = new Queue('bench', {
    connection: redis,
    prefix,
    defaultJobOptions: { removeOnComplete: { age: 3600 } },
    streams: { events: { maxLen: 200000 } },
  });
  let done = 0;
  const w = new Worker('bench', async () => null, {
    connection: bullConnection(BENCH_REDIS_URL) as never,
    prefix,
    concurrency: 50,
  });
  w.on('completed', () => done++);
  for (let i = 0; i < 20000; i += 1000)
    await q.addBulk(
      Array.from({ length: 1000 }, (_, k) => ({
        name: 'bench_job',
        data: { trigger: 'api', user_id: null, payload: { i: i + k } },
      })),
    );
  while (done < 20000) await new Promise((r) => setTimeout(r, 20));
  await w.close();
  const cpu = async () => {
    const s = await redis.info('cpu');
    return [...s.matchAll(/used_cpu_(sys|user):([\d.]+)/g)].reduce((a, m) => a + Number(m[2]), 0);
  };
  const store = new RedisRunStore(redis, { prefix });
  const src = new BullmqLifecycleSource(redis, bullConnection(BENCH_REDIS_URL), prefix);
  const origSnap = src.snapshots.bind(src);
  let snapMs = 0;
  let snapCalls = 0;
  src.snapshots = async (qq, ids) => {
    const t = Date.now();
    snapCalls++;
    try {
      return await origSnap(qq, ids);
    } finally {
      snapMs += Date.now() - t;
    }
  };
  const origApply = store.apply.bind(store);
  let applyMs = 0;
  let ups = 0;
  store.apply = async (us) => {
    const t = Date.now();
    ups += us.length;
    try {
      return await origApply(us);
    } finally {
      applyMs += Date.now() - t;
    }
  };
  let final = 0;
  const tracker = new Tracker({ queues: ['bench'], source: src, store, logger: pino({ level: 'warn' }) });
  tracker.onApplied((us) => {
    for (const u of us) if (u.patch.status === 'completed') final++;
  });
  const c0 = await cpu();
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const sess = new Session();
  sess.connect();
  const post = (m: string, p?: object) =>
    new Promise<{ profile?: unknown }>((res, rej) =>
      sess.post(m as never, p as never, (e: unknown, r: unknown) =>
        e ? rej(e) : res(r as { profile?: unknown }),
      ),
    );
  await post('Profiler.enable');
  await post('Profiler.start');
  await tracker.start();
  while (final < 20000 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 10));
  const prof = await post('Profiler.stop');
  writeFileSync('/tmp/tracker-only.cpuprofile', JSON.stringify(prof.profile));
  const c1 = await cpu();
  const cu = process.cpuUsage(cpu0);
  console.log(
    `tracker catch-up alone: ${Date.now() - t0} ms wall, redis cpu ${(((c1 - c0) * 1e6) / 20000).toFixed(0)} us/job, node cpu ${((cu.user + cu.system) / 20000).toFixed(0)} us/job, updates ${ups}, snapshot calls ${snapCalls} (${snapMs} ms), apply ${applyMs} ms`,
  );
  await tracker.stop();
  await q.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  process.exit(0);
}
void main();
