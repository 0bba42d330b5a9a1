import { type Db, MongoClient, ObjectId } from 'mongodb';
import type { RunUpdate } from '../../src/monitor/run';
import { migrateMongoRuns } from '../../src/store/mongo-migrate';
import { statsCountPipeline, STATS_INDEX_KEY } from '../../src/store/mongo-run-docs';
import { MongoRunStore } from '../../src/store/mongo-run-store';
import { memoryLogger } from '../helpers/logger';
import { runStoreContract } from './run-store.contract';

const MONGO_URL = process.env.MONGO_URL;

// The only skip in the suite: no MongoDB server here. Set MONGO_URL to run these against a real one; without
// it the real tests below are reported as skipped, and this line says why.
if (!MONGO_URL) {
  console.warn(
    'SKIPPED: MongoRunStore contract suite and server tests need MONGO_URL (no MongoDB server configured)',
  );
}
const describeMongo = MONGO_URL ? describe : describe.skip;

jest.setTimeout(60_000);

describeMongo('MongoRunStore (needs MONGO_URL)', () => {
  let client: MongoClient;
  const dbs: Db[] = [];
  const freshDb = (name: string) => {
    const db = client.db(`jm_${name}_${process.pid}_${Date.now()}`);
    dbs.push(db);
    return db;
  };
  beforeAll(async () => {
    client = new MongoClient(MONGO_URL!);
    await client.connect();
  });
  afterAll(async () => {
    for (const db of dbs) await db.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  runStoreContract('MongoRunStore', async () => {
    const db = client.db(`jobs_monitor_test_${process.pid}_${Date.now()}`);
    return { store: new MongoRunStore(db), cleanup: () => db.dropDatabase().then(() => undefined) };
  });

  const update = (run_id: string, seq: string, patch: RunUpdate['patch'], at = Date.now()): RunUpdate => ({
    run_id,
    seq,
    identity: {
      job_id: 'job_a',
      queue: 'q',
      created_at: new Date(at).toISOString(),
      trigger: 'api',
      user_id: null,
    },
    patch,
    logs: [],
  });
  const byKey = async (db: Db, key: object) =>
    (await db.collection('job_runs').indexes()).find((i) => JSON.stringify(i.key) === JSON.stringify(key));

  it('creates the seed indexes (partial user index) and one index per list filter sorted by created_at', async () => {
    const db = freshDb('idx');
    await new MongoRunStore(db).init();
    expect(await byKey(db, { job_id: 1, started_at: -1 })).toBeDefined();
    expect(await byKey(db, { status: 1 })).toBeDefined();
    expect((await byKey(db, { started_at: -1 }))?.expireAfterSeconds).toBe(604800);
    const user = await byKey(db, { user_id: 1, job_id: 1 });
    expect(user?.sparse).toBeUndefined();
    expect(user?.partialFilterExpression).toEqual({ user_id: { $exists: true } });
    expect((await byKey(db, { user_id: 1, created_at: -1, run_id: -1 }))?.partialFilterExpression).toEqual({
      user_id: { $exists: true },
    });
    expect(await byKey(db, { trigger: 1, created_at: -1, run_id: -1 })).toBeDefined();
    expect(await byKey(db, { ...STATS_INDEX_KEY })).toBeDefined();
    expect((await byKey(db, { stuck: 1, created_at: -1, run_id: -1 }))?.partialFilterExpression).toEqual({
      stuck: true,
    });
    expect(await byKey(db, { search: 1, created_at: -1, run_id: -1 })).toBeDefined();
  });

  it("starts on a team's collection with the seed's indexes under default names and another TTL", async () => {
    const db = freshDb('seed');
    const coll = db.collection('job_runs');
    await coll.createIndexes([
      { key: { job_id: 1, started_at: -1 } },
      { key: { status: 1 } },
      { key: { started_at: -1 }, expireAfterSeconds: 86400 },
      { key: { user_id: 1, job_id: 1 }, sparse: true },
    ]);
    const logs = memoryLogger();
    await new MongoRunStore(db, { logger: logs.logger }).init();
    expect((await byKey(db, { started_at: -1 }))?.expireAfterSeconds).toBe(604800);
    expect((await byKey(db, { started_at: -1 }))?.name).toBe('started_at_-1');
    expect((await byKey(db, { status: 1 }))?.name).toBe('status_1');
    expect(logs.events()).toEqual(
      expect.arrayContaining([
        'run_store_index_adopted',
        'run_store_index_ttl_changed',
        'run_store_indexes_created',
      ]),
    );
    expect(logs.lines.find((l) => l.msg === 'run_store_index_differs')).toMatchObject({
      index: 'user_id_1_job_id_1',
      why: expect.stringContaining('sparse'),
    });
    // A second start changes nothing and fails on nothing.
    const again = await new MongoRunStore(db).ensureIndexes();
    expect(again.create).toEqual([]);
    expect(again.collMod).toEqual([]);
  });

  it('isolates updates MongoDB refuses (over 16 MiB, or a document that would grow past it) and records a tracking error', async () => {
    const db = freshDb('poison');
    const logs = memoryLogger();
    // A cap above MongoDB's limit, so the refusals really happen.
    const store = new MongoRunStore(db, { logger: logs.logger, maxResultBytes: 64 * 1024 * 1024 });
    await store.init();
    const ten = 'x'.repeat(10 * 1024 * 1024);
    await store.apply([
      update('ok1', '001', { status: 'running' }),
      update('big', '001', { status: 'completed', result: 'y'.repeat(17 * 1024 * 1024) }),
      update('grow', '001', { status: 'running', result: ten }),
      update('ok2', '001', { status: 'running' }),
    ]);
    // Valid alone, but the stored document would exceed 16 MiB: refused by the server (a write error).
    await store.apply([
      update('grow', '002', { status: 'failed', error_message: ten }),
      update('ok1', '002', { status: 'completed' }),
    ]);
    expect((await store.get('ok1'))?.status).toBe('completed');
    expect((await store.get('ok2'))?.status).toBe('running');
    const big = await store.get('big');
    expect(big).toMatchObject({ status: 'completed', result: null });
    expect(big?.logs[0]).toMatchObject({ level: 'error', message: expect.stringContaining('16 MiB') });
    const grow = await store.get('grow');
    expect(grow?.status).toBe('failed');
    expect(grow?.logs.at(-1)?.message).toContain('MongoDB refused the update');
    expect(logs.lines.filter((l) => l.msg === 'run_store_update_rejected').map((l) => l.run_id)).toEqual([
      'big',
      'grow',
    ]);
  });

  it('stats counts read index keys only (covered), and the sample reads at most `sample` documents', async () => {
    const db = freshDb('stats');
    const store = new MongoRunStore(db);
    await store.init();
    const t0 = Date.now() - 60_000;
    await store.apply(
      Array.from({ length: 300 }, (_, i) =>
        update(`s${i}`, '001', { status: i % 2 ? 'completed' : 'failed' }, t0 + i),
      ),
    );
    const explain = await db
      .collection('job_runs')
      .aggregate(statsCountPipeline('job_a', t0), { hint: { ...STATS_INDEX_KEY } })
      .explain('executionStats');
    expect(JSON.stringify(explain)).toMatch(/"totalDocsExamined":0[,}]/);
    const s = await store.stats('job_a', t0, 10);
    expect(s.counts.completed + s.counts.failed).toBe(300);
    expect(s.finished).toHaveLength(10);
  });

  it('reads, lists and pages documents of the earlier system, and npm run migrate:mongo backfills them (rerunnable)', async () => {
    const db = freshDb('old');
    const coll = db.collection('job_runs');
    const t0 = Date.now() - 3600_000;
    await coll.insertMany(
      Array.from({ length: 7 }, (_, i) => ({
        _id: new ObjectId(),
        run_id: `o${i}`,
        job_id: 'job_a',
        status: i % 2 ? 'running' : 'pending',
        progress: 0,
        started_at: i % 2 ? new Date(t0 + i * 1000) : null,
        ended_at: null,
        trigger: 'scheduled',
        user_id: i === 3 ? 123456 : null,
        logs: [],
      })),
    );
    const store = new MongoRunStore(db);
    await store.init();
    await store.apply([update('n1', '001', { status: 'running' })]);
    expect(await store.get('o1')).toMatchObject({
      created_at: new Date(t0 + 1000).toISOString(),
      queue: '',
      seq: '',
    });
    expect((await store.get('o3'))?.user_id).toBe('123456');
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await store.list({ job_id: 'job_a', status: ['pending', 'running'], limit: 2, cursor });
      seen.push(...page.runs.map((r) => r.run_id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual(['n1', 'o6', 'o5', 'o4', 'o3', 'o2', 'o1', 'o0']);
    expect(pages).toBe(4);

    const logs = memoryLogger();
    const first = await migrateMongoRuns(db, { queues: { job_a: 'default' }, logger: logs.logger });
    expect(first.modified).toBe(7);
    const o2 = await coll.findOne({ run_id: 'o2' });
    expect(o2?.created_at).toEqual((o2?._id as ObjectId | undefined)?.getTimestamp());
    expect(o2).toMatchObject({ queue: 'default', seq: '' });
    expect('user_id' in (o2 ?? {})).toBe(false);
    expect((await coll.findOne({ run_id: 'o3' }))?.user_id).toBe('123456');
    expect((await store.list({ user_id: '123456' })).runs.map((r) => r.run_id)).toEqual(['o3']);
    const second = await migrateMongoRuns(db, { queues: { job_a: 'default' }, logger: logs.logger });
    expect(second).toEqual({
      matched: 0,
      modified: 0,
      created: [],
      adopted: [],
      ttlChanged: [],
      rebuilt: [],
    });
  });
});
