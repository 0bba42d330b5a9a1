/**
 * Redis that hangs or disappears (issue 11 items 5 and 13), against a redis-server of the test's own:
 * - frozen (SIGSTOP): request paths answer 503 store_unavailable (REDIS_COMMAND_TIMEOUT_MS) instead of
 *   waiting for Redis, and recover by themselves when it thaws (SIGCONT);
 * - gone (killed) or frozen, then SIGTERM: the process still exits by itself after SHUTDOWN_GRACE_SECONDS,
 *   non-zero, naming what it abandoned.
 */
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(180_000);

const auth = { Authorization: `Bearer ${TEST_TOKEN}` };

afterAll(async () => {
  await killAllRoles();
  await stopAllRedis();
});

describe('frozen Redis: the API answers 503 store_unavailable, then recovers by itself', () => {
  let own: OwnRedis;
  let sys: TestSystem;

  beforeAll(async () => {
    own = await OwnRedis.create();
    sys = await startTestSystem({ REDIS_URL: own.url, ROLES: 'api' });
  });
  afterAll(async () => {
    own.resume();
    await sys?.stop();
  });

  const call = (method: string, path: string) =>
    fetch(sys.url + path, {
      method,
      headers: auth,
      // Far above REDIS_COMMAND_TIMEOUT_MS (2000); without the timeout these wait for Redis as long as it is frozen.
      signal: AbortSignal.timeout(30_000),
    });

  test.each([
    ['GET', '/api/jobs/active'],
    ['GET', '/api/jobs/runs'],
    ['GET', '/metrics'],
    ['POST', '/api/jobs/quick_job/trigger'],
    ['GET', '/api/recordings/file/CA0123456789'],
  ])('%s %s', async (method, path) => {
    expect((await call('GET', '/api/jobs/active')).status).toBe(200);
    own.pause();
    try {
      const res = await call(method, path);
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
      expect(await res.json()).toMatchObject({ error: 'store_unavailable' });
    } finally {
      own.resume();
    }
    // Thawed: the same connection serves again, nobody restarts anything.
    await waitFor(async () => (await call(method, path)).status !== 503, 20_000, 100);
  });
});

describe('stop with Redis gone or frozen ends after the grace period, non-zero', () => {
  test.each([['killed'], ['frozen']])('Redis %s, then SIGTERM', async (how) => {
    const own = await OwnRedis.create();
    const role = await spawnRole({
      ROLES: 'api,worker,monitor,scheduler',
      REDIS_URL: own.url,
      QUEUE_PREFIX: '{jm-gone}',
      JOBS_CONFIG: tempYaml(PROCESS_JOBS_YML),
      SHUTDOWN_GRACE_SECONDS: '3',
    });
    // A run in flight when Redis goes: the worker has something to drain.
    const trig = await fetch(`http://127.0.0.1:${role.port}/api/jobs/slow_job/trigger`, {
      method: 'POST',
      headers: auth,
    });
    expect(trig.status).toBe(202);
    if (how === 'killed') await own.stop('SIGKILL');
    else own.pause();
    // SIGKILL only after 60 s: before the fix the process never ended by itself.
    const exit = await role.stop('SIGTERM', 60_000);
    own.resume();
    expect(exit).toEqual({ code: 1, signal: null });
    const log = role.output.map((l) => l.trim()).filter((l) => l.startsWith('{'));
    const last = log
      .map((l) => JSON.parse(l) as { msg?: string; abandoned?: string[] })
      .filter((l) => l.msg === 'shutdown_incomplete' || l.msg === 'shutdown_timeout');
    expect(last.length).toBeGreaterThan(0);
    const incomplete = last.find((l) => l.msg === 'shutdown_incomplete');
    if (incomplete) expect(incomplete.abandoned?.length).toBeGreaterThan(0);
    expect(role.output.some((l) => l.includes('"shutdown_complete"'))).toBe(false);
  });
});
