/**
 * MongoAuditStore against a stand-in collection whose find/sort/limit are evaluated by mingo (an independent
 * implementation of MongoDB's query semantics): the documents it writes, the TTL index it asks for, the order
 * it reads. No MongoDB server runs here.
 */
import { Query } from 'mingo';
import { type Collection, type Document, ObjectId } from 'mongodb';
import { AuditLog } from '../../src/monitor/audit';
import type { JobsService } from '../../src/monitor/jobs-service';
import { OperatorActions } from '../../src/monitor/operator-actions';
import { MongoAuditStore } from '../../src/store/audit-stores';

function fakeCollection() {
  const docs: Document[] = [];
  const indexes: { key: Document; opts: Document }[] = [];
  const coll = {
    async createIndex(key: Document, opts: Document) {
      indexes.push({ key, opts });
      return String(opts.name);
    },
    async insertOne(doc: Document) {
      docs.push({ _id: new ObjectId(), ...doc });
      return { acknowledged: true };
    },
    find(filter: Document) {
      let sort: Record<string, 1 | -1> = {};
      let limit = 0;
      const cursor = {
        sort(s: Record<string, 1 | -1>) {
          sort = s;
          return cursor;
        },
        limit(n: number) {
          limit = n;
          return cursor;
        },
        async toArray() {
          return new Query(filter).find(docs).sort(sort).limit(limit).all();
        },
      };
      return cursor;
    },
  };
  return { coll: coll as unknown as Collection<Document>, docs, indexes };
}

describe('MongoAuditStore', () => {
  it('writes `at` as a Date under a 7-day TTL index and reads newest first with ids', async () => {
    const { coll, docs, indexes } = fakeCollection();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const log = new AuditLog(new MongoAuditStore(coll, undefined, () => now), undefined, () => now);
    const who = { name: 'ci', role: 'operator' as const, via: 'api' as const };
    await log.record(who, { action: 'trigger', job_id: 'a_job', run_id: 'm1' });
    now += 1000;
    await log.record(null, { action: 'login', code: 'wrong_token' });
    expect(indexes).toEqual([{ key: { at: -1 }, opts: { name: 'at_ttl', expireAfterSeconds: 7 * 86_400 } }]);
    expect(docs[0].at).toBeInstanceOf(Date);
    expect(docs[0]).not.toHaveProperty('id');
    const latest = await log.latest(10);
    expect(latest).toEqual([
      expect.objectContaining({
        action: 'login',
        actor: 'anonymous',
        outcome: 'refused',
        at: '2026-01-01T00:00:01.000Z',
      }),
      expect.objectContaining({
        action: 'trigger',
        actor: 'api:ci',
        role: 'operator',
        outcome: 'ok',
        run_id: 'm1',
      }),
    ]);
    expect(latest[0].id).toMatch(/^[0-9a-f]{24}$/);
    expect(await log.latest(1)).toHaveLength(1);

    // Eight days on, before MongoDB's TTL monitor deleted them: not shown.
    now += 8 * 86_400_000;
    expect(await log.latest(10)).toEqual([]);
    await log.record(who, { action: 'retry', run_id: 'm2' });
    expect((await log.latest(10)).map((e) => e.action)).toEqual(['retry']);
  });

  it('keeps a refused attempt as the action attempted, with its subject, outcome and code', async () => {
    const { coll } = fakeCollection();
    const log = new AuditLog(new MongoAuditStore(coll));
    const actions = new OperatorActions({} as JobsService, log);
    const viewer = { name: 'grafana', role: 'viewer' as const, via: 'api' as const };
    await actions.refused(viewer, 'trigger', 'forbidden_role', {
      job_id: 'a_job',
      detail: 'POST /api/jobs/a_job/trigger',
    });
    // A Telegram user on no list has no role at all.
    const stranger = { name: '999 (@mallory)', role: null, via: 'telegram' as const };
    await actions.refused(stranger, 'retry', 'not_allowed', {
      run_id: 'r9',
      detail: 'telegram retry_confirm',
    });
    expect(await log.latest(10)).toEqual([
      expect.objectContaining({
        actor: 'telegram:999 (@mallory)',
        role: null,
        action: 'retry',
        run_id: 'r9',
        outcome: 'refused',
        code: 'not_allowed',
      }),
      expect.objectContaining({
        actor: 'api:grafana',
        role: 'viewer',
        action: 'trigger',
        job_id: 'a_job',
        outcome: 'refused',
        code: 'forbidden_role',
        detail: 'POST /api/jobs/a_job/trigger',
      }),
    ]);
  });
});
