/** A malformed jobs.yml stops the real entry point before it touches anything, naming file, path and reason. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis';
import { tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

// A start that gets as far as Redis (the taken port) writes under its prefix: a fresh one, deleted after.
const prefix = uniquePrefix('startup');
const redis = testRedis();
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

function runMain(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../../src/main.ts')], {
    cwd: join(__dirname, '../..'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      DB_HEALTH_TOKEN: 'x'.repeat(20),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    }),
  );
}

it('exits 78 with every problem of a bad jobs.yml', async () => {
  const file = tempYaml(
    'jobs:\n  - { job_id: a, name: A, category: t, job_type: repeating, interval_seconds: "often", callback_name: x }\n' +
      '  - { job_id: a, name: B, category: t, job_type: cron, cron: "every day", callback_name: x, colour: red }\n',
  );
  const { code, out } = await runMain({ JOBS_CONFIG: file });
  expect(code).toBe(78);
  expect(out).toContain(`${file}: jobs[0].interval_seconds: expected a positive number`);
  expect(out).toContain(`${file}: jobs[1]: Unrecognized key: "colour"`);
});

it('exits 78 naming a bad environment variable', async () => {
  const { code, out } = await runMain({ WORKER_LOCK_DURATION_MS: 'long' });
  expect(code).toBe(78);
  expect(out).toContain('environment: WORKER_LOCK_DURATION_MS: expected a number');
});

it('exits 78 naming the file and the job when a callback_name has no processor', async () => {
  const file = tempYaml(
    'jobs:\n  - { job_id: cache_warming, name: C, category: t, job_type: once, callback_name: cacheWarming, queue: q }\n' +
      'dynamic_jobs:\n  - { job_id: drive_sync, name: D, category: t, callback_name: driveSync, queue: q }\n',
  );
  const { code, out } = await runMain({ JOBS_CONFIG: file, ROLES: 'worker' });
  expect(code).toBe(78);
  expect(out).toContain(`${file}: dynamic_jobs[drive_sync].callback_name: unknown processor "driveSync"`);
  expect(out).not.toContain('cache_warming');
});

it('exits 78 naming TELEGRAM_BOT_TOKEN when the Bot API refuses the token (401 to getMe), without printing it', async () => {
  const token = '123456789:refused-token-Zx81';
  const calls: string[] = [];
  // A fake Bot API that refuses every token, as Telegram does a revoked one.
  const api = createServer((req, res) => {
    calls.push(req.url ?? '');
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  try {
    const { port } = api.address() as AddressInfo;
    const { code, out } = await runMain({
      ROLES: 'api,bot',
      TELEGRAM_BOT_TOKEN: token,
      TELEGRAM_API_ROOT: `http://127.0.0.1:${port}`,
      TELEGRAM_ADMIN_IDS: '111',
    });
    expect(code).toBe(78);
    expect(out).toContain(
      'environment: TELEGRAM_BOT_TOKEN: the Telegram Bot API refused the token (401 Unauthorized)',
    );
    expect(out).not.toContain(token.split(':')[1]);
    expect(calls.some((u) => u.endsWith('/getMe'))).toBe(true);
    expect(calls.some((u) => u.endsWith('/getUpdates'))).toBe(false);
  } finally {
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
  }
});

it('exits 1 with its start_failed line logged when a role cannot start (the port is taken)', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as AddressInfo).port;
  try {
    const { code, out } = await runMain({ PORT: String(port), LOG_LEVEL: 'info' });
    expect(code).toBe(1);
    // The fatal line goes out through the asynchronous logger before the process exits.
    expect(out).toMatch(/"msg":"start_failed"/);
    expect(out).toContain('EADDRINUSE');
  } finally {
    taken.close();
  }
});
