/**
 * The container healthcheck of the roles without a port (`node dist/healthcheck.js` in docker-compose.yml),
 * run as compose runs it — a process of its own — from the source with tsx: exit 0 while the configuration
 * is valid and Redis answers, 1 with the reason on one line of stderr otherwise.
 */
import { createServer, type Socket } from 'node:net';
import { runTsScript } from '../helpers/processes';
import { REDIS_URL } from '../helpers/redis';
import { freePort } from '../helpers/redis-server';

jest.setTimeout(60_000);

const healthcheck = async (env: Record<string, string>) => {
  const { code, stdout, stderr } = await runTsScript('src/healthcheck.ts', env);
  return { code, stdout, stderr };
};

it('exits 0 when the configuration is valid and Redis answers', async () => {
  const res = await healthcheck({ REDIS_URL, ROLES: 'worker' });
  expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
});

it('exits 0 in production with the token compose requires', async () => {
  const res = await healthcheck({
    REDIS_URL,
    NODE_ENV: 'production',
    DB_HEALTH_TOKEN: 'healthcheck-token-0123456789',
    ROLES: 'monitor',
  });
  expect(res.code).toBe(0);
});

it('exits 1 naming where it looked when nothing listens on the Redis port', async () => {
  const port = await freePort();
  const res = await healthcheck({ REDIS_URL: `redis://:s3cret@127.0.0.1:${port}`, ROLES: 'worker' });
  expect(res.code).toBe(1);
  expect(res.stderr).toBe(
    `Redis is not reachable at redis://127.0.0.1:${port} (REDIS_URL) (ECONNREFUSED).\n`,
  );
});

it('exits 1 (not hang) when Redis accepts the connection but never answers', async () => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  try {
    const res = await healthcheck({ REDIS_URL: `redis://127.0.0.1:${port}`, ROLES: 'scheduler' });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `Redis is not reachable at redis://127.0.0.1:${port} (REDIS_URL) (no answer after 3.0 s).\n`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

it('exits 1 naming the variable when the configuration is invalid', async () => {
  const res = await healthcheck({ REDIS_URL, PORT: 'eighty' });
  expect(res.code).toBe(1);
  expect(res.stderr).toBe('environment: PORT: expected a number\n');
});
