import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '../../src/config';
import { type StartOptions, type System, startSystem } from '../../src/system';
import type { Processor } from '../../src/workers/processor-context';
import { memoryLogger } from './logger';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix } from './redis';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

/** A fresh prefix for systems that share one Redis namespace (several processes of one deployment). */
export const uniquePrefixFor = (name: string): string => uniquePrefix(name);

/** Writes YAML to a temp file and returns its path. */
export function tempYaml(text: string, name = 'jobs.yml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'jm-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Test processors: each behaves in one way a real job might. */
export const testProcessors: Record<string, Processor<never>> = {
  quick: (async (ctx) => {
    ctx.log('quick ran');
    return { ok: true, data: ctx.data ?? null };
  }) as Processor<never>,
  counted: (async (ctx) => {
    const total = 20;
    for (let i = 1; i <= total; i++) {
      await ctx.progress(i, total);
      ctx.log(`item ${i}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return { items: total };
  }) as Processor<never>,
  chatty: (async (ctx) => {
    for (let i = 1; i <= 120; i++) ctx.log(`line ${i}`);
    return null;
  }) as Processor<never>,
  boom: (async () => {
    throw new Error('provider said no');
  }) as Processor<never>,
  flaky: (async (ctx) => {
    if (ctx.attempt < 2) throw new Error(`transient failure on attempt ${ctx.attempt}`);
    return { attempt: ctx.attempt };
  }) as Processor<never>,
  /** Loses an error outside its promise chain (an 'error' event nobody listens to), like a buggy stream. */
  escaping: (async (ctx) => {
    ctx.log('about to lose an error');
    setTimeout(() => new EventEmitter().emit('error', new Error('nobody listens to this error')), 20);
    await new Promise((r) => setTimeout(r, 10_000));
    return { survived: 'the error did not reach the run' };
  }) as Processor<never>,
  /** Waits until the run is cancelled (its signal aborts), at most `ms` (default 60 s); honours cancel. */
  cancellable: (async (ctx) => {
    const ms = (ctx.data as { ms?: number } | undefined)?.ms ?? 60_000;
    ctx.log('waiting to be cancelled');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    ctx.signal.throwIfAborted();
    return { waited: ms };
  }) as Processor<never>,
  slow: (async (ctx) => {
    const ms = (ctx.data as { ms?: number } | undefined)?.ms ?? 1500;
    const steps = 10;
    for (let i = 1; i <= steps; i++) {
      await new Promise((r) => setTimeout(r, ms / steps));
      await ctx.progress(i, steps);
    }
    ctx.log('slow done');
    return { slept: ms };
  }) as Processor<never>,
};

export const TEST_JOBS_YML = `
jobs:
  - { job_id: quick_job, name: Quick, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: quick, queue: tq }
  - { job_id: counted_job, name: Counted, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: counted, queue: tq }
  - { job_id: chatty_job, name: Chatty, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: chatty, queue: tq }
  - { job_id: boom_job, name: Boom, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: boom, queue: tq }
  - { job_id: flaky_job, name: Flaky, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: flaky, queue: tq }
  - { job_id: slow_job, name: Slow, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: slow, queue: tq }
  - { job_id: disabled_job, name: Disabled, category: test, job_type: repeating, interval_seconds: 86400, enabled: false, callback_name: quick, queue: tq }
dynamic_jobs:
  - { job_id: dyn_job, name: Dynamic, category: test, callback_name: quick, queue: tq }
`;

export interface TestSystem extends System {
  prefix: string;
  logs: ReturnType<typeof memoryLogger>;
  url: string;
  cleanup(): Promise<void>;
}

/** Starts the system in this process against the test Redis with a fresh prefix. */
export async function startTestSystem(
  env: Record<string, string> = {},
  opts: StartOptions & { jobsYml?: string } = {},
): Promise<TestSystem> {
  const prefix = env.QUEUE_PREFIX ?? uniquePrefix('sys');
  const config: Config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    REDIS_URL,
    DB_HEALTH_TOKEN: TEST_TOKEN,
    QUEUE_PREFIX: prefix,
    JOBS_CONFIG: tempYaml(opts.jobsYml ?? TEST_JOBS_YML),
    JOB_BACKOFF_MS: '50',
    SHUTDOWN_GRACE_SECONDS: '10',
    // No scheduler by default: tests trigger runs themselves.
    ROLES: 'api,worker,monitor',
    ...env,
  });
  const logs = memoryLogger();
  const system = await startSystem(config, logs.logger, {
    processors: { ...testProcessors, ...opts.processors },
    workerOverrides: opts.workerOverrides,
    recordings: opts.recordings,
  });
  return {
    ...system,
    prefix,
    logs,
    url: `http://127.0.0.1:${system.port}`,
    async cleanup() {
      await system.stop();
      const redis = testRedis();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}
