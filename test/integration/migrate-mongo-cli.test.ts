/**
 * `npm run migrate:mongo` (src/migrate-mongo.ts) as an operator runs it, without a MongoDB server: no
 * MONGO_URL is a configuration error (78) with one clear line; a MONGO_URL nobody listens on fails (1)
 * within the script's server-selection timeout (5 s), saying MongoDB is not reachable there.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

jest.setTimeout(30_000);

const ROOT = join(__dirname, '..', '..');

/** Runs the script with only `env` (plus PATH and HOME); resolves with its exit code, output and duration. */
function runMigrate(env: Record<string, string>) {
  const started = Date.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/migrate-mongo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // A hang is a failure too: killed after 20 s, which the assertions on code and time report.
  const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  return new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) =>
    proc.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

/** A loopback port nobody listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const lines = (s: string) => s.split('\n').filter(Boolean);

it('without MONGO_URL: exit 78 and one line saying to set it', async () => {
  const r = await runMigrate({});
  expect(r.code).toBe(78);
  expect(r.stderr).toBe('');
  const out = lines(r.stdout);
  expect(out).toHaveLength(1);
  expect(JSON.parse(out[0])).toMatchObject({
    level: 50,
    msg: expect.stringMatching(/^migrate_needs_mongo_url: set MONGO_URL/),
  });
});

it('with a MONGO_URL nobody listens on: exit 1 within the timeout, naming the address (no password)', async () => {
  const port = await closedPort();
  const r = await runMigrate({ MONGO_URL: `mongodb://ops:s3cret@127.0.0.1:${port}/` });
  expect(r.code).toBe(1);
  expect(r.ms).toBeLessThan(15_000);
  const err = lines(r.stderr);
  expect(err).toHaveLength(1);
  expect(err[0]).toMatch(
    new RegExp(
      `^MongoDB not reachable at mongodb://\\*\\*\\*@127\\.0\\.0\\.1:${port}/ \\(MONGO_URL\\) within 5000 ms: .*ECONNREFUSED`,
    ),
  );
  const logged = lines(r.stdout).map((l) => JSON.parse(l) as { msg?: string });
  expect(logged.map((l) => l.msg)).toEqual(['migrate_failed']);
  expect(r.stdout).not.toContain('"matched"');
  expect(r.stdout + r.stderr).not.toContain('s3cret');
});
