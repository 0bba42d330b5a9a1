/**
 * First run on a fresh machine: `npm start` without Redis says how to start one (and exits at once on a
 * refused connection instead of waiting), and `npm test` without Chromium stops with one line naming it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../helpers/redis-server';

jest.setTimeout(90_000);

const ROOT = join(__dirname, '..', '..');

function run(cmd: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const proc = spawn(cmd, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    proc.once('exit', (code) => resolve({ code, out }));
  });
}

it('npm start with no Redis reachable exits with how to start one', async () => {
  const port = await freePort(); // nothing listens there
  const { code, out } = await run('npm', ['start', '--silent'], {
    REDIS_URL: `redis://user:s3cret@127.0.0.1:${port}`,
  });
  expect(code).toBe(69);
  expect(out).toContain(`Redis is not reachable at redis://127.0.0.1:${port} (REDIS_URL) (ECONNREFUSED)`);
  expect(out).toContain('docker compose up -d redis');
  expect(out).toContain('redis-server');
  expect(out).not.toContain('s3cret');
  // Nothing else: no stack trace, no structured log wall.
  expect(out).not.toMatch(/\n\s+at /);
});

it('npm test without Chromium stops with one line naming the package', async () => {
  const { code, out } = await run(
    process.execPath,
    [join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), 'test/e2e/recording-player.test.ts'],
    { CHROMIUM_PATH: '/nonexistent/chromium' },
  );
  expect(code).not.toBe(0);
  const lines = out.split('\n').filter((l) => l.includes('Chromium'));
  expect(lines).toEqual([
    'Chromium not found at /nonexistent/chromium: the browser tests need it. Install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_PATH.',
  ]);
  expect(out).not.toContain('browserType.launch');
});
