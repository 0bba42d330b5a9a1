/**
 * Dashboard bench: 10,000 runs in the RedisRunStore, then
 *  - the dashboard's first page as a browser loads it: GET /jobs/monitor (HTML), then in parallel the calls
 *    dashboard.js makes on load (/api/jobs, /api/jobs/active, /api/jobs/runs?limit=25, one
 *    /api/jobs/:id/stats?window=24h per job);
 *  - GET /api/jobs/runs (default page, and with filters) on its own.
 * Prints p50/p99 of each; the LAST line is the verdict against the 200 ms target.
 * Needs Redis at REDIS_URL (default 127.0.0.1:6379); uses its own key prefix and deletes it afterwards.
 *   npx tsx bench/dashboard.ts        (npm run bench:dashboard)
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../src/config';
import type { RunStatus, RunTrigger, RunUpdate } from '../src/monitor/run';
import { seqFromEventId } from '../src/monitor/run';
import { startSystem } from '../src/system';
import { deletePrefix } from './lib/redis';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUNS = Number(process.env.BENCH_RUNS ?? 10_000);
const PAGE_LOADS = Number(process.env.BENCH_PAGE_LOADS ?? 200);
const API_CALLS = Number(process.env.BENCH_API_CALLS ?? 400);
const TARGET_MS = 200;
const TOKEN = randomBytes(16).toString('hex');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const fmt = (n: number) => n.toFixed(1);

/** 10,000 runs over 7 days (half of them in the last 24 h) across the shipped jobs, like a busy week. */
function makeRuns(n: number, now: number): RunUpdate[] {
  const jobs = [
    ['cache_warming', 'maintenance', 'scheduled'],
    ['queue_cleanup', 'maintenance', 'scheduled'],
    ['drive_sync', 'user_actions', 'api'],
    ['reminder', 'user_actions', 'api'],
    ['batch_operation', 'user_actions', 'api'],
  ] as const;
  const out: RunUpdate[] = [];
  for (let i = 0; i < n; i++) {
    const [job, queue, trigger] = jobs[i % jobs.length];
    const age =
      i < n / 2 ? (i / (n / 2)) * 86_400_000 : 86_400_000 + ((i - n / 2) / (n / 2)) * 6 * 86_400_000;
    const created = Math.round(now - age - 1000);
    const status: RunStatus = i < 3 ? 'running' : i % 17 === 0 ? 'failed' : 'completed';
    const duration = 200 + ((i * 7919) % 5000);
    out.push({
      run_id: `b${i.toString(36)}`,
      seq: seqFromEventId(`${created + duration}-${i}`),
      identity: {
        job_id: job,
        queue,
        created_at: new Date(created).toISOString(),
        trigger: (i % 11 === 0 ? 'manual' : trigger) as RunTrigger,
        user_id: trigger === 'api' ? `user_${i % 300}` : null,
      },
      patch: {
        status,
        started_at: new Date(created + 5).toISOString(),
        ended_at: status === 'running' ? null : new Date(created + 5 + duration).toISOString(),
        duration_ms: status === 'running' ? null : duration,
        progress: status === 'completed' ? 100 : 40,
        processed_items: 400,
        total_items: 1000,
        error_message: status === 'failed' ? 'upstream timed out after 30 s' : null,
        attempts: 1,
      },
      logs: [
        {
          time: new Date(created).toISOString(),
          level: 'info',
          message: `run ${i}`,
          seq: seqFromEventId(`${created}-0`),
        },
      ],
    });
  }
  return out;
}

async function main(): Promise<void> {
  const prefix = `{bench-dash-${randomBytes(3).toString('hex')}}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    REDIS_URL,
    DB_HEALTH_TOKEN: TOKEN,
    QUEUE_PREFIX: prefix,
    ROLES: 'api',
    LOG_LEVEL: 'silent',
  });
  const system = await startSystem(config, pino({ level: 'silent' }));
  const base = `http://127.0.0.1:${system.port}`;
  const redis = new Redis(REDIS_URL);
  try {
    const t0 = Date.now();
    const updates = makeRuns(RUNS, Date.now());
    for (let i = 0; i < updates.length; i += 1000) await system.store.apply(updates.slice(i, i + 1000));
    console.log(`seeded ${RUNS} runs in ${Date.now() - t0} ms`);

    // Sign in once like a browser (form + CSRF nonce), then reuse the session cookie.
    const form = await fetch(`${base}/jobs/monitor`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
    const nonce = form.headers
      .getSetCookie()
      .find((c) => c.startsWith('jm_login='))!
      .split(';')[0];
    const login = await fetch(`${base}/jobs/monitor/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: nonce },
      body: new URLSearchParams({ token: TOKEN, _csrf: csrf, next: '/jobs/monitor' }).toString(),
    });
    const cookie = login.headers
      .getSetCookie()
      .find((c) => c.startsWith('jm_session='))!
      .split(';')[0];
    const headers = { cookie };
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      await res.arrayBuffer();
    };
    const jobIds = system.registry.jobs.map((j) => j.job_id);
    const pageLoad = async () => {
      await get('/jobs/monitor');
      await Promise.all([
        get('/api/jobs'),
        get('/api/jobs/active'),
        get('/api/jobs/runs?limit=25'),
        ...jobIds.map((id) => get(`/api/jobs/${id}/stats?window=24h`)),
      ]);
    };
    const time = async (fn: () => Promise<void>, n: number) => {
      for (let i = 0; i < 10; i++) await fn(); // warm-up
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await fn();
        xs.push(performance.now() - s);
      }
      return xs;
    };

    const page = await time(pageLoad, PAGE_LOADS);
    console.log(
      `first page (HTML + ${3 + jobIds.length} API calls): p50 ${fmt(pct(page, 50))} ms, p99 ${fmt(pct(page, 99))} ms`,
    );
    const stats = await time(() => get('/api/jobs/cache_warming/stats?window=24h'), 100);
    console.log(
      `stats cache_warming 24h (${RUNS / 10} runs): p50 ${fmt(pct(stats, 50))} ms, p99 ${fmt(pct(stats, 99))} ms`,
    );
    for (const q of ['?status=failed', '?job_id=drive_sync&user_id=user_7', '?trigger=manual&limit=200']) {
      const xs = await time(() => get(`/api/jobs/runs${q}`), 100);
      console.log(`runs ${q}: p50 ${fmt(pct(xs, 50))} ms, p99 ${fmt(pct(xs, 99))} ms`);
    }
    const runs = await time(() => get('/api/jobs/runs'), API_CALLS);
    console.log(`runs (default page of 50): p50 ${fmt(pct(runs, 50))} ms, p99 ${fmt(pct(runs, 99))} ms`);

    const runsP99 = pct(runs, 99);
    const pageP99 = pct(page, 99);
    const pass = runsP99 < TARGET_MS && pageP99 < TARGET_MS;
    console.log(
      `dashboard: runs api p99 ${fmt(runsP99)} ms, page p99 ${fmt(pageP99)} ms (target < ${TARGET_MS} ms) ${pass ? 'PASS' : 'MISS'}`,
    );
  } finally {
    await system.stop();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
