/**
 * `npm run migrate:mongo` (src/migrate-mongo.ts) as an operator runs it, without a MongoDB server: no
 * MONGO_URL is a configuration error (78) with one clear line; a MONGO_URL nobody listens on fails (1)
 * within the script's server-selection timeout (5 s), saying MongoDB is not reachable there.
 */
import { createServer } from 'node:net';
import { runTsScript } from '../helpers/processes';

jest.setTimeout(30_000);

/** Runs the script with only `env` (plus PATH and HOME); a hang is killed after 20 s and fails on code and time. */
const runMigrate = (env: Record<string, string>) => runTsScript('src/migrate-mongo.ts', env, 20_000);

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
