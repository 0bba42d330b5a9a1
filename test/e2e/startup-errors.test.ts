/** A malformed jobs.yml stops the real entry point before it touches anything, naming file, path and reason. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REDIS_URL } from '../helpers/redis';
import { tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

function runMain(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../../src/main.ts')], {
    cwd: join(__dirname, '../..'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      REDIS_URL,
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
