/**
 * Polling storm: 1,000 concurrent clients (keep-alive HTTP) poll GET /api/recordings/file for 100 calls
 * while the workers download them from a local provider. Every call must get exactly one download job and
 * no request may answer 5xx. Needs Redis (REDIS_URL, default redis://127.0.0.1:6379).
 *
 *   npx tsx bench/polling-storm.ts          (npm run bench:polling-storm)
 *
 * Env: STORM_CLIENTS (1000), STORM_CALLS (100), STORM_POLL_MS (250: clients poll faster than Retry-After,
 * as a storm does), STORM_PROVIDER_DELAY_MS (1000: time the provider takes per recording).
 * The last line is `polling-storm: jobs N/100, 5xx M (target jobs=100, 5xx=0) PASS|MISS`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../src/config';
import { startSystem } from '../src/system';
import { deletePrefix } from './lib/redis';

const CLIENTS = Number(process.env.STORM_CLIENTS ?? 1000);
const CALLS = Number(process.env.STORM_CALLS ?? 100);
const POLL_MS = Number(process.env.STORM_POLL_MS ?? 250);
const PROVIDER_DELAY_MS = Number(process.env.STORM_PROVIDER_DELAY_MS ?? 1000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = randomBytes(16).toString('hex');
const DEADLINE_MS = 120_000;

/** A provider that serves 64 KiB per call after a delay, and counts requests. */
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

function request(
  agent: http.Agent,
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
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
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

async function main(): Promise<void> {
  const prefix = `{bench-storm-${randomBytes(4).toString('hex')}}`;
  const dir = mkdtempSync(join(tmpdir(), 'jm-storm-'));
  const jobsFile = join(dir, 'jobs.yml');
  writeFileSync(jobsFile, readFileSync(join(__dirname, '../config/jobs.yml'), 'utf8'));
  const provider = await startProvider();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    REDIS_URL,
    DB_HEALTH_TOKEN: TOKEN,
    QUEUE_PREFIX: prefix,
    JOBS_CONFIG: jobsFile,
    ROLES: 'api,worker,monitor',
    WORKER_CONCURRENCY: '20',
    RECORDINGS_DIR: join(dir, 'recordings'),
    RECORDING_RETRY_AFTER_SECONDS: '1',
  });
  const system = await startSystem(config, pino({ level: 'silent' }));
  const port = system.port!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  try {
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
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    let ready = 0;
    const started = performance.now();
    const client = async (n: number) => {
      const path = `/api/recordings/file/CAstorm${n % CALLS}`;
      while (performance.now() - started < DEADLINE_MS) {
        const r = await request(agent, port, 'GET', path);
        latencies.push(r.ms);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200 || r.status === 206) {
          ready++;
          return;
        }
        if (r.status >= 500 || r.status === 0 || r.status === 404) return;
        await new Promise((res) => setTimeout(res, POLL_MS));
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    const seconds = (performance.now() - started) / 1000;

    const jobs = await system.queues.get('recordings').getJobs(undefined, 0, 100_000);
    const perCall = new Map<string, number>();
    for (const j of jobs) {
      const m = /^rdl-(CAstorm\d+)-\d+$/.exec(j.id ?? '');
      if (m) perCall.set(m[1], (perCall.get(m[1]) ?? 0) + 1);
    }
    const jobCount = [...perCall.values()].reduce((a, b) => a + b, 0);
    const fiveXx = [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((a, [, c]) => a + c, 0);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;

    const rows: [string, string][] = [
      ['clients / calls', `${CLIENTS} / ${CALLS}`],
      ['requests', String(latencies.length)],
      ['requests/s', (latencies.length / seconds).toFixed(0)],
      ['p50 / p99 latency', `${pct(0.5).toFixed(1)} ms / ${pct(0.99).toFixed(1)} ms`],
      ['statuses', [...statuses].map(([s, c]) => `${s}:${c}`).join(' ')],
      ['clients served 200', `${ready}/${CLIENTS}`],
      ['download jobs created', String(jobCount)],
      ['provider downloads', String(provider.hits())],
      ['5xx (or no answer)', String(fiveXx)],
      ['wall time', `${seconds.toFixed(1)} s`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
    const pass = jobCount === CALLS && fiveXx === 0 && ready === CLIENTS;
    console.log(
      `polling-storm: jobs ${jobCount}/${CALLS}, 5xx ${fiveXx} (target jobs=${CALLS}, 5xx=0) ${pass ? 'PASS' : 'MISS'}`,
    );
    process.exitCode = pass ? 0 : 1;
  } finally {
    agent.destroy();
    await system.stop();
    provider.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
