import request from 'supertest';
import { AuditLog } from '../../src/monitor/audit';
import { RedisKeys } from '../../src/queues/redis-keys';
import { RedisAuditStore } from '../../src/store/audit-stores';
import { login, seedRuns } from '../helpers/dashboard';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const VIEWER = 'viewer-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ API_TOKENS: `grafana:viewer:${VIEWER},ci:operator:${OPERATOR}` });
  await seedRuns(sys.store, [
    { run_id: 'ok1', job_id: 'quick_job', status: 'completed', created_ms: Date.now() - 5000 },
  ]);
});
afterAll(() => sys.cleanup());

const audit = async (limit = 50) =>
  (await request(sys.url).get(`/api/jobs/audit?limit=${limit}`).set(bearer(VIEWER))).body.entries as Record<
    string,
    unknown
  >[];

describe('audit log', () => {
  it('records done and refused actions with who, newest first, never a token', async () => {
    const trig = await request(sys.url).post('/api/jobs/chatty_job/trigger').set(bearer(OPERATOR));
    expect(trig.status).toBe(202);
    await request(sys.url).post('/api/jobs/chatty_job/trigger').set(bearer(VIEWER)).expect(403);
    await request(sys.url).post('/api/jobs/runs/ok1/retry').set(bearer(OPERATOR)).expect(409);
    const entries = await audit();
    expect(entries.slice(0, 3)).toEqual([
      expect.objectContaining({
        actor: 'api:ci',
        role: 'operator',
        action: 'retry',
        run_id: 'ok1',
        outcome: 'refused',
        code: 'run_not_failed',
      }),
      // A refusal for the caller's role names the action attempted and its job, like any other refusal.
      expect.objectContaining({
        actor: 'api:grafana',
        role: 'viewer',
        action: 'trigger',
        job_id: 'chatty_job',
        outcome: 'refused',
        code: 'forbidden_role',
        detail: 'POST /api/jobs/chatty_job/trigger',
      }),
      expect.objectContaining({
        actor: 'api:ci',
        action: 'trigger',
        job_id: 'chatty_job',
        run_id: trig.body.run_id,
        outcome: 'ok',
      }),
    ]);
    const text = JSON.stringify(entries) + sys.logs.raw.join('');
    expect(text).not.toContain(OPERATOR);
    expect(text).not.toContain(VIEWER);
    // Every entry is also a structured log line.
    expect(sys.logs.lines.filter((l) => l.msg === 'audit').length).toBeGreaterThanOrEqual(3);
  });

  it('records dashboard logins, good and wrong', async () => {
    await login(sys.url, OPERATOR);
    await expect(login(sys.url, 'wrong-token-0123456789abcdef')).rejects.toThrow(/login failed/);
    const [wrong, ok] = await audit(2);
    expect(wrong).toMatchObject({
      action: 'login',
      actor: 'anonymous',
      outcome: 'refused',
      code: 'wrong_token',
    });
    expect(ok).toMatchObject({ action: 'login', actor: 'dashboard:ci', role: 'operator', outcome: 'ok' });
  });

  it('answers 400 for a bad limit', async () => {
    for (const bad of ['0', 'x', '100000', '-1']) {
      const res = await request(sys.url).get(`/api/jobs/audit?limit=${bad}`).set(bearer(TEST_TOKEN));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_query');
    }
  });
});

describe('RedisAuditStore', () => {
  it('keeps 7 days: older entries are never read, and a write trims them', async () => {
    const redis = testRedis();
    const prefix = uniquePrefix('audit');
    try {
      const log = new AuditLog(new RedisAuditStore(redis, prefix));
      const who = { name: 'ci', role: 'operator' as const, via: 'api' as const };
      // An entry from 8 days ago (stream ids are Redis time in ms), then a new one.
      const old = {
        at: new Date(Date.now() - 8 * 86_400_000).toISOString(),
        action: 'trigger',
        job_id: 'old_job',
      };
      await redis.xadd(
        new RedisKeys(prefix).auditStream,
        `${Date.now() - 8 * 86_400_000}-0`,
        'e',
        JSON.stringify(old),
      );
      // Past the retention: never shown, even before a write trims it.
      expect(await log.latest(10)).toEqual([]);
      expect(await redis.xlen(new RedisKeys(prefix).auditStream)).toBe(1);
      await log.record(who, { action: 'trigger', job_id: 'new_job' });
      expect(await redis.xlen(new RedisKeys(prefix).auditStream)).toBe(1);
      const entries = await log.latest(10);
      expect(entries.map((e) => e.job_id)).toEqual(['new_job']);
    } finally {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
