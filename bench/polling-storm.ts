/**
 * Polling storm (issue #16): 1,000 concurrent keep-alive clients poll GET /api/recordings/file/<callSid> for
 * 100 calls while the workers download them from a local provider (127.0.0.1, answers after a delay).
 * Two topologies, alternated A, B, A, B (BENCH_ROUNDS pairs, default 2), each round on a fresh key prefix:
 *
 * - `split` (the verdict): the API alone in one process (`ROLES=api`), the workers, monitor and scheduler in
 *   another (`ROLES=worker,monitor,scheduler`);
 * - `npm start`: every role in one process (ROLES unset, as `npm start` runs; the bot stays off without a
 *   Telegram token).
 *
 * Both are child processes (bench/lib/storm-process.ts) so this process — the clients and the provider —
 * never shares an event loop with the API. Per round: latency of every answer by status (202 p50/p95/p99,
 * 200 p50/p99; `202 p99 repeat` leaves out each client's first request, which all arrive as one burst, to
 * tell the start-up burst from steady polling — the verdict counts every 202), 5xx count (must be 0), download jobs per call (must be exactly 1), time until every client
 * got its 200. Needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379).
 *
 *   npx tsx bench/polling-storm.ts          (npm run bench:polling-storm)
 *
 * Env: STORM_CLIENTS (1000), STORM_CALLS (100), STORM_POLL_MS (250: clients poll faster than Retry-After,
 * as a storm does), STORM_PROVIDER_DELAY_MS (1000: time the provider takes per recording), BENCH_ROUNDS (2),
 * STORM_CPU_PROF=<dir> (write a V8 CPU profile of each split round's API process there).
 * The last line is `polling-storm: 202 p99 <n> ms split (target 250 ms) PASS|MISS`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { RedisKeys } from '../src/queues/redis-keys';
import { note, printTable, verdict } from './lib/report';
import { BENCH_REDIS_URL, benchPrefix, benchRedis, deletePrefix } from './lib/redis';
import { percentile } from './lib/stats';

const CLIENTS = Number(process.env.STORM_CLIENTS ?? 1000);
const CALLS = Number(process.env.STORM_CALLS ?? 100);
const POLL_MS = Number(process.env.STORM_POLL_MS ?? 250);
const PROVIDER_DELAY_MS = Number(process.env.STORM_PROVIDER_DELAY_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CPU_PROF = process.env.STORM_CPU_PROF ? resolve(process.env.STORM_CPU_PROF) : null;
const TOKEN = randomBytes(16).toString('hex');
const DEADLINE_MS = 120_000;
const TARGET_P99_MS = 250;

type Topology = 'split' | 'npm start';

/** The processes of one topology: their ROLES (undefined = every role, as `npm start`). */
const TOPOLOGIES: Record<Topology, { roles: string | undefined; api: boolean }[]> = {
  split: [
    { roles: 'worker,monitor,scheduler', api: false },
    { roles: 'api', api: true },
  ],
  'npm start': [{ roles: undefined, api: true }],
};

interface RoundResult {
  topology: Topology;
  requests: number;
  lat202: number[];
  /** 202s after each client's first request (the first ones arrive as one burst of CLIENTS requests). */
  lat202Repeat: number[];
  lat200: number[];
  statuses: Map<number, number>;
  fiveXx: number;
  /** Download jobs created for each call (index = call). */
  jobsPerCall: number[];
  served: number;
  /** Seconds from the first poll until the last client got its 200 (NaN if some never did). */
  allServedS: number;
  providerHits: number;
}

/** A provider that serves 64 KiB per call after a delay, on loopback, and counts requests. */
async function startProvider(): Promise<{
  url: (i: number) => string;
  hits: () => number;
  close: () => void;
}> {
  const body = randomBytes(64 * 1024);
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length });
      res.end(body);
    }, PROVIDER_DELAY_MS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (i) => `http://127.0.0.1:${port}/rec/${i}.wav`,
    hits: () => hits,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const children = new Set<ChildProcess>();
// A crash of this process must not leave API or worker processes behind.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts bench/lib/storm-process.ts with that environment; resolves with the port it listens on once ready. */
function startChild(
  env: Record<string, string>,
  cpuProf: boolean,
): Promise<{ child: ChildProcess; port: number }> {
  const args = ['--import', 'tsx'];
  if (cpuProf && CPU_PROF) args.push('--cpu-prof', '--cpu-prof-dir', CPU_PROF);
  args.push(join(__dirname, 'lib/storm-process.ts'));
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, STORM_ENV: JSON.stringify(env) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) res({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => {
      children.delete(child);
      rej(new Error(`storm process (${env.ROLES ?? 'all roles'}) exited with ${code}`));
    });
  });
}

/** SIGTERM (graceful stop), then SIGKILL after 15 s. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return res();
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(kill);
      children.delete(child);
      res();
    });
    child.kill('SIGTERM');
  });
}

function request(
  agent: http.Agent,
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((done) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: {
          Authorization: `Bearer ${TOKEN}`,
          Range: 'bytes=0-0',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => done({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', () => done({ status: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

async function runRound(topology: Topology, round: number): Promise<RoundResult> {
  const prefix = benchPrefix('storm');
  const dir = mkdtempSync(join(tmpdir(), 'jm-storm-'));
  const jobsFile = join(dir, 'jobs.yml');
  writeFileSync(jobsFile, readFileSync(join(__dirname, '../config/jobs.yml'), 'utf8'));
  const provider = await startProvider();
  const redis = benchRedis();
  const queue = new Queue('recordings', {
    connection: redis,
    prefix: new RedisKeys(prefix).queuePrefix('recordings'),
  });
  const started: ChildProcess[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  try {
    const shared: Record<string, string> = {
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_URL: BENCH_REDIS_URL,
      DB_HEALTH_TOKEN: TOKEN,
      QUEUE_PREFIX: prefix,
      JOBS_CONFIG: jobsFile,
      WORKER_CONCURRENCY: '20',
      RECORDINGS_DIR: join(dir, 'recordings'),
      RECORDING_RETRY_AFTER_SECONDS: '1',
      // The fake provider listens on loopback, which downloads refuse unless allowed.
      RECORDING_ALLOWED_HOSTS: '127.0.0.1',
    };
    let port = 0;
    // Workers first, so the API never answers before something processes its queue.
    for (const p of TOPOLOGIES[topology]) {
      const env = p.roles ? { ...shared, ROLES: p.roles } : shared;
      const c = await startChild(env, p.api && topology === 'split');
      started.push(c.child);
      if (p.api) port = c.port;
    }
    note(`round ${round} (${topology}): processes ready, API on :${port}`);

    for (let i = 0; i < CALLS; i++) {
      const put = await request(
        agent,
        port,
        'PUT',
        `/api/recordings/CAstorm${i}`,
        JSON.stringify({ recording_url: provider.url(i) }),
      );
      if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    }

    const lat202: number[] = [];
    const lat202Repeat: number[] = [];
    const lat200: number[] = [];
    const statuses = new Map<number, number>();
    let served = 0;
    let lastServed = 0;
    const t0 = performance.now();
    const client = async (n: number) => {
      const path = `/api/recordings/file/CAstorm${n % CALLS}`;
      let first = true;
      while (performance.now() - t0 < DEADLINE_MS) {
        const r = await request(agent, port, 'GET', path);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 202) {
          lat202.push(r.ms);
          if (!first) lat202Repeat.push(r.ms);
        }
        first = false;
        if (r.status === 200 || r.status === 206) {
          lat200.push(r.ms);
          served++;
          lastServed = performance.now();
          return;
        }
        if (r.status !== 202) return; // 404, 5xx or no answer: the contract says stop polling
        await new Promise((res) => setTimeout(res, POLL_MS));
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));

    const jobs = await queue.getJobs(undefined, 0, -1);
    const jobsPerCall = Array.from({ length: CALLS }, () => 0);
    for (const j of jobs) {
      const m = /^rdl-CAstorm(\d+)-\d+$/.exec(j.id ?? '');
      if (m) jobsPerCall[Number(m[1])]++;
    }
    const requests = [...statuses.values()].reduce((a, b) => a + b, 0);
    return {
      topology,
      requests,
      lat202,
      lat202Repeat,
      lat200,
      statuses,
      fiveXx: [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((a, [, c]) => a + c, 0),
      jobsPerCall,
      served,
      allServedS: served === CLIENTS ? (lastServed - t0) / 1000 : Number.NaN,
      providerHits: provider.hits(),
    };
  } finally {
    agent.destroy();
    // API first, so no request reaches a half-stopped worker side.
    for (const c of [...started].reverse()) await stopChild(c);
    provider.close();
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms`);

/** "1" when every call got exactly one job, else "min–max (n calls ≠ 1)". */
function jobsCell(perCall: number[]): string {
  const min = Math.min(...perCall);
  const max = Math.max(...perCall);
  const off = perCall.filter((n) => n !== 1).length;
  return off === 0 ? '1' : `${min}–${max} (${off} calls ≠ 1)`;
}

async function main(): Promise<void> {
  note(
    `${CLIENTS} clients, ${CALLS} calls, poll every ${POLL_MS} ms, provider delay ${PROVIDER_DELAY_MS} ms, ${ROUNDS} rounds per topology`,
  );
  const results: RoundResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of ['split', 'npm start'] as const) {
      const res = await runRound(t, results.length + 1);
      note(
        `round ${results.length + 1} (${t}): ${res.requests} requests, 202 p99 ${ms(percentile(res.lat202, 99))}`,
      );
      results.push(res);
    }
  }

  printTable(
    [
      'round',
      'topology',
      'requests',
      '202 p50',
      '202 p95',
      '202 p99',
      '202 p99 repeat',
      '200 p50',
      '200 p99',
      '5xx',
      'other',
      'jobs/call',
      'all 200 after',
      'served',
    ],
    results.map((r, i) => [
      i + 1,
      r.topology,
      r.requests,
      ms(percentile(r.lat202, 50)),
      ms(percentile(r.lat202, 95)),
      ms(percentile(r.lat202, 99)),
      ms(percentile(r.lat202Repeat, 99)),
      ms(percentile(r.lat200, 50)),
      ms(percentile(r.lat200, 99)),
      r.fiveXx,
      [...r.statuses]
        .filter(([s]) => s !== 200 && s !== 206 && s !== 202 && s < 500 && s !== 0)
        .map(([s, c]) => `${s}:${c}`)
        .join(' ') || '-',
      jobsCell(r.jobsPerCall),
      Number.isNaN(r.allServedS) ? 'never' : `${r.allServedS.toFixed(1)} s`,
      `${r.served}/${CLIENTS}`,
    ]),
  );

  const split = results.filter((r) => r.topology === 'split');
  // The verdict pools every 202 answer of the split rounds.
  const p99 = percentile(
    split.flatMap((r) => r.lat202),
    99,
  );
  const clean = split.every(
    (r) => r.fiveXx === 0 && r.jobsPerCall.every((n) => n === 1) && r.served === CLIENTS,
  );
  const pass = p99 <= TARGET_P99_MS && clean;
  if (!clean)
    console.log('split rounds had 5xx, clients without their 200, or calls without exactly one job');
  verdict(
    'polling-storm',
    `202 p99 ${Number.isNaN(p99) ? 'n/a' : p99.toFixed(0)} ms split`,
    `${TARGET_P99_MS} ms`,
    pass,
  );
  process.exitCode = pass ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
  for (const c of children) c.kill('SIGKILL');
});
