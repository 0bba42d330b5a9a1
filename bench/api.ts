/**
 * API under load: autocannon against GET /api/jobs/active, GET /api/jobs/{job_id} and
 * GET /api/jobs/runs?status=failed with 10k and then 100k runs in the RedisRunStore. Prints requests/s and
 * p50/p99 per route and size, and the 100k/10k p99 ratio of the runs route (indexes, not scans, keep it
 * flat). The two sizes live on two prefixes behind two API instances and are measured alternately.
 * Usage: npm run bench:api  (BENCH_API_SECONDS, BENCH_API_ROUNDS, BENCH_API_CONNECTIONS, BENCH_REDIS_URL)
 */
import autocannon from 'autocannon';
import type { RunStatus, RunUpdate } from '../src/monitor/run';
import type { RunStore } from '../src/monitor/run-store';
import { startSystem } from '../src/system';
import { BENCH_JOB, BENCH_QUEUE, benchConfig, benchLogger } from './lib/pipeline';
import { benchPrefix, benchRedis, deletePrefix } from './lib/redis';
import { note, printTable, verdict } from './lib/report';
import { median, round } from './lib/stats';

const TARGET_RATIO = 1.5;
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 10);
const ROUNDS = Math.max(1, Number(process.env.BENCH_API_ROUNDS ?? 3));
const JOB_IDS = [BENCH_JOB, ...Array.from({ length: 9 }, (_, i) => `other_job_${i}`)];
const WEEK_MS = 7 * 24 * 3600 * 1000;

/** Run `i` of the history: 10% failed, the rest completed, spread over the last week. */
function historicRun(i: number, now: number): RunUpdate {
  const created = now - 60_000 - Math.floor(((i * 7919) % 100_000) * (WEEK_MS / 100_000));
  const status: RunStatus = i % 10 === 3 ? 'failed' : 'completed';
  const at = (ms: number) => new Date(ms).toISOString();
  return {
    run_id: `h${i}`,
    seq: `${String(created + 5000).padStart(15, '0')}-00000000`,
    identity: {
      job_id: JOB_IDS[i % JOB_IDS.length],
      queue: BENCH_QUEUE,
      created_at: at(created),
      trigger: i % 3 === 0 ? 'scheduled' : 'api',
      user_id: i % 4 === 0 ? `u${i % 500}` : null,
    },
    patch: {
      status,
      progress: 100,
      started_at: at(created + 100),
      ended_at: at(created + 4000),
      duration_ms: 3900,
      attempts: status === 'failed' ? 3 : 1,
      worker: 'bench:1',
      error_message: status === 'failed' ? 'provider said no' : null,
      result: status === 'failed' ? null : { items: i % 100 },
    },
    logs: [
      { time: at(created + 200), level: 'info', message: `run ${i} started`, seq: '0' },
      { time: at(created + 3900), level: 'info', message: `run ${i} done`, seq: '0' },
    ],
  };
}

/** Runs pending or running now: the same 100 at both sizes (active work doesn't grow with history). */
function activeRun(i: number, now: number): RunUpdate {
  const run = historicRun(i, now);
  return {
    ...run,
    run_id: `a${i}`,
    identity: { ...run.identity, created_at: new Date(now - i * 1000).toISOString() },
    patch: { status: i % 2 ? 'running' : 'pending', started_at: null, ended_at: null },
  };
}

interface RouteResult {
  route: string;
  size: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string, token: string, route: string, size: string): Promise<RouteResult> {
  const res = await autocannon({
    url: url + route,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: `Bearer ${token}` },
  });
  const errors = res.errors + res.timeouts + res.non2xx;
  note(`api ${size} ${route}: ${Math.round(res.requests.average)} req/s, p99 ${res.latency.p99} ms`);
  return {
    route,
    size,
    rps: Math.round(res.requests.average),
    p50: res.latency.p50,
    p99: res.latency.p99,
    errors,
  };
}

async function fill(store: RunStore, count: number, now: number): Promise<void> {
  const t0 = Date.now();
  await store.apply(Array.from({ length: 100 }, (_, i) => activeRun(i, now)));
  for (let stored = 0; stored < count; stored += 1000) {
    const n = Math.min(1000, count - stored);
    await store.apply(Array.from({ length: n }, (_, k) => historicRun(stored + k, now)));
  }
  note(`api: ${count} runs stored (${Date.now() - t0} ms)`);
}

async function main(): Promise<void> {
  const redis = benchRedis();
  const now = Date.now();
  const routes = ['/api/jobs/active', `/api/jobs/${BENCH_JOB}`, '/api/jobs/runs?status=failed'];
  // One API per size, on its own prefix, so the sizes can be measured alternately (the machine is shared
  // and noisy; alternating keeps the ratio fair).
  const sizes = [
    { size: '10k', count: 10_000, prefix: benchPrefix('api10k') },
    { size: '100k', count: 100_000, prefix: benchPrefix('api100k') },
  ];
  const systems: { size: string; url: string; token: string; stop(): Promise<void> }[] = [];
  const results: RouteResult[] = [];
  try {
    for (const s of sizes) {
      const config = benchConfig(s.prefix, { ROLES: 'api' });
      const sys = await startSystem(config, benchLogger());
      systems.push({
        size: s.size,
        url: `http://127.0.0.1:${sys.port}`,
        token: config.DB_HEALTH_TOKEN,
        stop: sys.stop,
      });
      await fill(sys.store, s.count, now);
    }
    for (const sys of systems)
      await autocannon({
        url: sys.url + routes[2],
        connections: CONNECTIONS,
        duration: 1,
        headers: { authorization: `Bearer ${sys.token}` },
      });
    for (let r = 0; r < ROUNDS; r++) {
      for (const route of routes) {
        for (const sys of systems) results.push(await load(sys.url, sys.token, route, sys.size));
      }
    }
  } finally {
    for (const sys of systems) await sys.stop();
    for (const s of sizes) await deletePrefix(redis, s.prefix);
    await redis.quit();
  }
  const pick = (size: string, route: string) => results.filter((r) => r.size === size && r.route === route);
  const rows = sizes.flatMap(({ size }) =>
    routes.map((route) => {
      const rs = pick(size, route);
      return {
        size,
        route,
        rps: Math.round(median(rs.map((r) => r.rps))),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((n, r) => n + r.errors, 0),
      };
    }),
  );
  console.log(
    `\napi: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per route and size, ${ROUNDS} rounds alternated (medians), RedisRunStore`,
  );
  printTable(
    ['size', 'route', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
    rows.map((r) => [r.size, r.route, r.rps, r.p50, r.p99, r.errors]),
  );
  const p99 = (size: string, route: string) => rows.find((r) => r.size === size && r.route === route)!.p99;
  console.log('');
  printTable(
    ['route', 'p99 100k/10k'],
    routes.map((r) => [r, round(p99('100k', r) / Math.max(1, p99('10k', r)), 2)]),
  );
  const ratio = p99('100k', routes[2]) / Math.max(1, p99('10k', routes[2]));
  const errors = rows.reduce((n, r) => n + r.errors, 0);
  if (errors) console.log(`${errors} requests failed (non-2xx, errors or timeouts)`);
  verdict(
    'api',
    `runs p99 100k/10k ${ratio.toFixed(2)}`,
    TARGET_RATIO.toFixed(1),
    ratio <= TARGET_RATIO && errors === 0,
  );
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
