/**
 * Redis bytes per no-op run in the RedisRunStore: stores BENCH_BYTES_RUNS (20k) no-op runs (completed,
 * api trigger, no user, result null; one merged update per run as a worker writes it: created + running +
 * completed with its attempt record) and divides by the number of runs:
 * - `MEMORY USAGE` (all samples) summed over every key of the store, plus 32 bytes per key with a TTL (the
 *   expires table entry that MEMORY USAGE leaves out): not disturbed by other clients of the server (the
 *   runs are created within the last minute: each is a field of its day bucket);
 * - the `used_memory` delta of INFO memory (noisy on a shared server; printed for comparison).
 * Ends with `bytes-per-run: <n> (target 800) PASS|MISS` (the MEMORY USAGE figure).
 * Usage: npm run bench:bytes  (BENCH_BYTES_RUNS, BENCH_REDIS_URL)
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { type RunUpdate, seqFromEventId } from '../src/monitor/run';
import { RedisRunStore } from '../src/store/redis-run-store';
import { benchPrefix, benchRedis, deletePrefix } from './lib/redis';
import { note, printTable, verdict } from './lib/report';

const TARGET = 800;
const RUNS = Number(process.env.BENCH_BYTES_RUNS ?? 20_000);

/** A no-op run as one merged update (the worker-side batch's usual shape). */
export function noopRun(
  i: number,
  now: number,
  job = 'bench_job',
  worker = `${hostname()}:${process.pid}`,
): RunUpdate {
  const created = now - 1000 - i;
  const at = (ms: number) => new Date(ms).toISOString();
  return {
    run_id: String(1_000_000 + i),
    seq: seqFromEventId(`${created + 3}-0`),
    identity: { job_id: job, queue: 'bench', created_at: at(created), trigger: 'api', user_id: null },
    patch: {
      status: 'completed',
      started_at: at(created + 1),
      ended_at: at(created + 2),
      duration_ms: 1,
      attempts: 1,
      worker,
      progress: 100,
      result: null,
    },
    logs: [],
    attempt: {
      attempt: 1,
      started_at: at(created + 1),
      ended_at: at(created + 2),
      worker,
      outcome: 'completed',
      error: null,
    },
  };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** MEMORY USAGE of every key under the prefix (+32 bytes per key with a TTL), and the number of keys. */
export async function prefixBytes(redis: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  const glob = prefix.replace(/[*?[\]\\]/g, '\\$&');
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${glob}*`, 'COUNT', 5000);
    cursor = next;
    if (!found.length) continue;
    const p = redis.pipeline();
    for (const k of found) {
      p.memory('USAGE', k, 'SAMPLES', 0);
      p.pttl(k);
    }
    const res = (await p.exec()) ?? [];
    for (let i = 0; i < res.length; i += 2) {
      bytes += Number(res[i][1] ?? 0);
      if (Number(res[i + 1][1]) > 0) bytes += 32; // the expires table entry (dictEntry + bucket)
    }
    keys += found.length;
  } while (cursor !== '0');
  return { bytes, keys };
}

async function main(): Promise<void> {
  const redis = benchRedis();
  const prefix = benchPrefix('bytes');
  const store = new RedisRunStore(redis, { prefix });
  const now = Date.now();
  try {
    const before = await usedMemory(redis);
    for (let i = 0; i < RUNS; i += 5000) {
      await store.apply(Array.from({ length: Math.min(5000, RUNS - i) }, (_, k) => noopRun(i + k, now)));
    }
    const after = await usedMemory(redis);
    const { bytes, keys } = await prefixBytes(redis, prefix);
    // A run created finished is a field of its day bucket (see BUCKET_HELPERS): the biggest bucket per field.
    const buckets = (await redis.keys(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*:runs:b:*`)).sort();
    const sizes = await Promise.all(
      buckets.map(async (k) => ({
        key: k,
        fields: await redis.hlen(k),
        bytes: Number(await redis.memory('USAGE', k, 'SAMPLES', 0)),
        encoding: await redis.object('ENCODING', k),
      })),
    );
    const big = sizes.sort((a, b) => b.fields - a.fields)[0];
    const perRun = Math.round(bytes / RUNS);
    console.log(`\nbytes: ${RUNS} no-op runs in the RedisRunStore (${keys} keys)`);
    printTable(
      ['measure', 'bytes per run'],
      [
        ['MEMORY USAGE of every key (+32 per TTL)', perRun],
        ['INFO used_memory delta (shared server: noisy)', Math.round((after - before) / RUNS)],
        [
          big
            ? `a day bucket (${big.encoding}, ${big.fields} runs of ${sizes.length} buckets), per run`
            : 'a day bucket: none',
          big ? Math.round(big.bytes / big.fields) : '-',
        ],
      ],
    );
    verdict('bytes-per-run', String(perRun), String(TARGET), perRun <= TARGET);
  } finally {
    await deletePrefix(redis, prefix);
    await redis.quit();
    note('bytes: keys deleted');
  }
}

if (require.main === module) {
  void main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
