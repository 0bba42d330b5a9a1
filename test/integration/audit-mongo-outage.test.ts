/**
 * The audit log on MongoDB (MONGO_URL) while MongoDB is unreachable: `GET /api/jobs/audit` answers
 * 503 `store_unavailable` with Retry-After, like every other store outage, not 500; recording an action
 * still never fails it. Nothing listens on the MongoDB port here (a free loopback port).
 */
import express from 'express';
import request from 'supertest';
import { auditRouter } from '../../src/api/audit-routes';
import { errorHandler } from '../../src/api/error-handler';
import { AuditLog } from '../../src/monitor/audit';
import { createAuditStore } from '../../src/store/audit-stores';
import { memoryLogger } from '../helpers/logger';
import { testRedis } from '../helpers/redis';
import { freePort } from '../helpers/redis-server';

jest.setTimeout(60_000);

const redis = testRedis();
afterAll(() => redis.quit());

it('answers 503 store_unavailable on a MongoDB outage; recording an action still never fails', async () => {
  const port = await freePort();
  const audit = createAuditStore(
    { MONGO_URL: `mongodb://127.0.0.1:${port}/`, MONGO_DB: 'jm_audit_outage', QUEUE_PREFIX: '{jm}' },
    redis,
  );
  const logs = memoryLogger();
  const log = new AuditLog(audit.store, logs.logger);
  const app = express();
  app.use('/api/jobs', auditRouter(log));
  app.use(errorHandler(logs.logger));
  try {
    const res = await request(app).get('/api/jobs/audit?limit=5');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toEqual({ error: 'store_unavailable', message: 'storage is unreachable' });
    expect(logs.events()).not.toContain('request_failed');

    await expect(
      log.record({ name: 'ci', role: 'operator', via: 'api' }, { action: 'trigger', job_id: 'j' }),
    ).resolves.toBeUndefined();
    expect(logs.lines.find((l) => l.msg === 'audit_write_failed')).toMatchObject({
      action: 'trigger',
      err: { message: expect.any(String) },
    });
  } finally {
    await audit.close();
  }
});
