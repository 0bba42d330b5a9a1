import { type Db, type Document, MongoClient, ObjectId } from 'mongodb';
import { FINISHED_STATUSES, RUN_TRUNCATED_MARKER, type RunUpdate } from '../../src/monitor/run';
import type { RunQuery } from '../../src/monitor/run-store';
import { migrateMongoRuns } from '../../src/store/mongo-migrate';
import {
  decodeListCursor,
  LIST_SORT,
  listQueries,
  STATS_FINISHED_PROJECTION,
  STATS_INDEX_KEY,
  statsCountPipeline,
  statsFinishedFilter,
} from '../../src/store/mongo-run-docs';
import { DuplicateRunIdsError, MongoRunStore } from '../../src/store/mongo-run-store';
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

  const update = (
    run_id: string,
    seq: string,
    patch: RunUpdate['patch'],
    at = Date.now(),
    identity: Partial<RunUpdate['identity']> = {},
  ): RunUpdate => ({
    run_id,
    seq,
    identity: {
      job_id: 'job_a',
      queue: 'q',
      created_at: new Date(at).toISOString(),
      trigger: 'api',
      user_id: null,
      ...identity,
    },
    patch,
    logs: [],
  });
  /** Every stage name in an explain's winning plan (classic and slot-based formats, sharded or not). */
  const stagesOf = (explain: Document): string[] => {
    const out: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) {
          if (k === 'stage' && typeof child === 'string') out.push(child);
          else if (k !== 'rejectedPlans') walk(child);
        }
      }
    };
    walk(explain.queryPlanner?.winningPlan ?? explain);
    return out;
  };
  /** Pages through a query with the store, like the dashboard does. */
  const pageAll = async (store: MongoRunStore, query: RunQuery, limit: number) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await store.list({ ...query, limit, cursor });
      ids.push(...page.runs.map((r) => r.run_id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 200);
    return { ids, pages };
  };
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
    // The finished sample: the store's exact find reads at most `sample` documents (plus one per status
    // branch of a merge), never the window — with running runs in between too.
    await store.apply(
      Array.from({ length: 100 }, (_, i) => update(`run${i}`, '001', { status: 'running' }, t0 + 500 + i)),
    );
    const sample = await db
      .collection('job_runs')
      .find(statsFinishedFilter('job_a', t0), { projection: STATS_FINISHED_PROJECTION })
      .sort({ ...LIST_SORT })
      .limit(10)
      .explain('executionStats');
    expect(sample.executionStats.totalDocsExamined).toBeLessThanOrEqual(10 + FINISHED_STATUSES.length);
    expect(stagesOf(sample)).not.toContain('SORT');
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
    const logs0 = memoryLogger();
    const store = new MongoRunStore(db, { logger: logs0.logger });
    await store.init();
    // The collection holds runs and expires none: init adds no TTL (history older than 7 days stays).
    expect(await byKey(db, { created_at: 1 })).toBeUndefined();
    expect(await byKey(db, { started_at: -1 })).toBeUndefined();
    expect(logs0.events()).toContain('run_store_retention_kept');
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

  it('lists by user, trigger, status and job use an index that sorts (no blocking SORT), page 2 after a cursor too', async () => {
    const db = freshDb('explain');
    const store = new MongoRunStore(db);
    await store.init();
    const t0 = Date.now() - 3600_000;
    const statuses = ['completed', 'failed', 'running', 'pending'] as const;
    const triggers = ['api', 'manual', 'scheduled'] as const;
    await store.apply(
      Array.from({ length: 400 }, (_, i) =>
        update(
          `x${String(i).padStart(3, '0')}`,
          '001',
          { status: statuses[i % 4] },
          t0 + Math.floor(i / 2) * 1000,
          {
            job_id: `job_${i % 5}`,
            user_id: i % 3 ? `u${i % 7}` : null,
            trigger: triggers[i % 3],
          },
        ),
      ),
    );
    const coll = db.collection('job_runs');
    const limit = 10;
    const queries: RunQuery[] = [
      { user_id: 'u1' },
      { trigger: 'manual' },
      { status: ['failed', 'completed'] },
      { status: ['running'] },
      { job_id: 'job_2' },
      { job_id: 'job_2', status: ['completed'] },
      {},
    ];
    for (const query of queries) {
      const first = await store.list({ ...query, limit });
      expect(first.next_cursor).not.toBeNull();
      for (const cursor of [null, first.next_cursor]) {
        const after = cursor ? decodeListCursor(cursor) : null;
        // The first filter is the one a page reads (the second only runs once the timed runs are exhausted).
        const [filter] = listQueries(query, after);
        const explain = await coll
          .find(filter, { projection: { logs: 0 } })
          .sort({ ...LIST_SORT })
          .limit(limit + 1)
          .explain('executionStats');
        const stages = stagesOf(explain);
        const where = { query, page: cursor ? 2 : 1, stages };
        expect({ ...where, sort: stages.includes('SORT') }).toEqual({ ...where, sort: false });
        expect({ ...where, ixscan: stages.includes('IXSCAN') }).toEqual({ ...where, ixscan: true });
        expect(explain.executionStats.totalDocsExamined).toBeLessThanOrEqual(3 * (limit + 1));
      }
      // The second filter (runs whose created_at is not a date, read once the timed ones run out) finds
      // none here, and must find that out from the index bounds, not by reading the whole list.
      const [, untimed] = listQueries(query, decodeListCursor(first.next_cursor as string));
      const none = await coll
        .find(untimed, { projection: { logs: 0 } })
        .sort({ ...LIST_SORT })
        .limit(limit + 1)
        .explain('executionStats');
      expect({ query, n: none.executionStats.nReturned }).toEqual({ query, n: 0 });
      expect({ query, keys: none.executionStats.totalKeysExamined <= limit + 1 }).toEqual({
        query,
        keys: true,
      });
      expect(none.executionStats.totalDocsExamined).toBeLessThanOrEqual(limit + 1);
      // And paging the whole list returns each run once.
      const all = await pageAll(store, query, 25);
      expect(new Set(all.ids).size).toBe(all.ids.length);
    }
  });

  it("pages over created_at stored as a date (also before 1970), ISO text, a number, null or missing, in the server's order", async () => {
    const db = freshDb('mixed');
    const coll = db.collection('job_runs');
    const base = { job_id: 'job_a', status: 'completed', trigger: 'scheduled', logs: [] };
    await coll.insertMany([
      ...Array.from({ length: 6 }, (_, i) => ({
        ...base,
        run_id: `d${i}`,
        created_at: new Date(Date.now() - i * 1000),
      })),
      { ...base, run_id: 'p1', created_at: new Date(-86_400_000) },
      { ...base, run_id: 'p2', created_at: new Date(-86_400_000) },
      { ...base, run_id: 's1', created_at: '2025-06-01T00:00:00.000Z' },
      { ...base, run_id: 's2', created_at: '2025-06-01T00:00:00.000Z' },
      { ...base, run_id: 's3', created_at: 'Mon Jan 01 2024' },
      { ...base, run_id: 'm1', created_at: 1_700_000_000_000 },
      { ...base, run_id: 'm2', created_at: 1_700_000_000_000 },
      { ...base, run_id: 'm3', created_at: -5 },
      { ...base, run_id: 'n1', created_at: null },
      { ...base, run_id: 'n2' },
      { ...base, run_id: 'n3' },
    ]);
    const store = new MongoRunStore(db);
    await store.init();
    const order = (
      await coll
        .find({})
        .sort({ ...LIST_SORT })
        .toArray()
    ).map((d) => String(d.run_id));
    expect(order).toHaveLength(17);
    for (const limit of [1, 2, 3, 5, 50]) {
      const { ids } = await pageAll(store, {}, limit);
      expect({ limit, ids }).toEqual({ limit, ids: order });
    }
    expect((await store.get('s3'))?.created_at).toBe(new Date('Mon Jan 01 2024').toISOString());
    expect((await store.get('p1'))?.created_at).toBe('1969-12-31T00:00:00.000Z');
  });

  it("keeps a team's longer TTL unless asked, and changes TTLs with collMod when asked", async () => {
    const db = freshDb('ttl');
    const coll = db.collection('job_runs');
    await coll.createIndex({ started_at: -1 }, { expireAfterSeconds: 30 * 86_400 });
    await coll.insertOne({ run_id: 'old', job_id: 'job_a', status: 'completed', started_at: new Date() });
    const logs = memoryLogger();
    await new MongoRunStore(db, { logger: logs.logger }).init();
    expect((await byKey(db, { started_at: -1 }))?.expireAfterSeconds).toBe(30 * 86_400);
    expect((await byKey(db, { created_at: 1 }))?.expireAfterSeconds).toBe(30 * 86_400);
    expect(logs.events()).toContain('run_store_retention_kept');
    await new MongoRunStore(db, { retentionSeconds: 7 * 86_400 }).init();
    expect((await byKey(db, { started_at: -1 }))?.expireAfterSeconds).toBe(7 * 86_400);
    expect((await byKey(db, { created_at: 1 }))?.expireAfterSeconds).toBe(7 * 86_400);
  });

  it('duplicate run_ids stop start-up with a clear error, after every other index is built; a rebuild drops nothing', async () => {
    const db = freshDb('dups');
    const coll = db.collection('job_runs');
    await coll.insertMany([
      { run_id: 'd1', job_id: 'job_a', status: 'completed', created_at: new Date() },
      { run_id: 'd1', job_id: 'job_a', status: 'failed', created_at: new Date() },
      { run_id: 'd2', job_id: 'job_a', status: 'completed', created_at: new Date() },
    ]);
    const err = await new MongoRunStore(db).init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicateRunIdsError);
    expect((err as Error).message).toContain(`${db.databaseName}.job_runs`);
    expect((err as Error).message).toContain('$group');
    expect(await byKey(db, { created_at: -1, run_id: -1 })).toBeDefined();
    expect(await byKey(db, { run_id: 1 })).toBeUndefined();

    // A non-unique run_id index (a team's): start-up keeps it; the migration's rebuild fails and keeps it too.
    await coll.createIndex({ run_id: 1 }, { name: 'run_id_1' });
    await new MongoRunStore(db).init();
    await expect(
      migrateMongoRuns(db, { queues: { job_a: 'default' }, logger: memoryLogger().logger }),
    ).rejects.toBeInstanceOf(DuplicateRunIdsError);
    expect((await byKey(db, { run_id: 1 }))?.name).toBe('run_id_1');
    // Once the duplicate is gone, the rebuild builds the unique index first, then drops the old one.
    await coll.deleteOne({ run_id: 'd1', status: 'failed' });
    const report = await migrateMongoRuns(db, {
      queues: { job_a: 'default' },
      logger: memoryLogger().logger,
    });
    expect(report.rebuilt).toContain('run_id_1');
    expect(await byKey(db, { run_id: 1 })).toBeUndefined();
    expect((await byKey(db, { run_id: -1 }))?.unique).toBe(true);
    const again = await new MongoRunStore(db).ensureIndexes();
    expect(again.create).toEqual([]);
    expect(again.differ).toEqual([]);
  });

  it('more poison: a validation failure (121), a result nested 150 levels, a marks-only update too large for a missing run', async () => {
    const db = freshDb('poison2');
    await db.createCollection('job_runs', { validator: { error_message: { $not: /^POISON/ } } });
    const logs = memoryLogger();
    const store = new MongoRunStore(db, { logger: logs.logger });
    await store.init();
    await store.apply([
      update('v', '001', { status: 'running' }),
      update('ok', '001', { status: 'running' }),
    ]);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 150; i++) deep = { a: deep };
    await store.apply([
      update('v', '002', { status: 'failed', error_message: 'POISON: refused by the validator' }),
      update('deep', '001', { status: 'completed', result: deep }),
      update('ok', '002', { status: 'completed' }),
      {
        ...update('gone', '', {}),
        marks: { retried_by: 'r'.repeat(17 * 1024 * 1024) },
      },
    ]);
    const v = await store.get('v');
    expect(v?.status).toBe('failed');
    expect(v?.error_message).toBeNull();
    expect(v?.logs.at(-1)?.message).toContain('code 121');
    expect((await store.get('ok'))?.status).toBe('completed');
    expect(await store.get('deep')).toMatchObject({
      status: 'completed',
      result: { truncated: RUN_TRUNCATED_MARKER, preview: expect.stringMatching(/^\{"a":\{"a":/) },
    });
    expect(await db.collection('job_runs').countDocuments({ run_id: 'gone' })).toBe(0);
    expect(logs.lines.filter((l) => l.msg === 'run_store_update_rejected').map((l) => l.run_id)).toEqual(
      expect.arrayContaining(['v', 'gone']),
    );
  });

  it('migrates 130 jobs (one nested $cond per job went past maxBSONDepth), text and number dates, an object user_id; twice', async () => {
    const db = freshDb('migrate2');
    const coll = db.collection('job_runs');
    const queues = Object.fromEntries(Array.from({ length: 130 }, (_, i) => [`job_${i}`, `q${i % 4}`]));
    const t = Date.now() - 3600_000;
    await coll.insertMany([
      ...Array.from({ length: 130 }, (_, i) => ({
        run_id: `r${i}`,
        job_id: `job_${i}`,
        status: 'completed',
      })),
      { run_id: 'iso', job_id: 'job_1', status: 'completed', created_at: new Date(t).toISOString() },
      { run_id: 'ms', job_id: 'job_1', status: 'completed', created_at: t },
      { run_id: 'obj', job_id: 'job_1', status: 'completed', user_id: { id: 7 }, started_at: new Date(t) },
    ]);
    const logger = memoryLogger().logger;
    const first = await migrateMongoRuns(db, { queues, logger });
    expect(first.modified).toBe(133);
    expect((await coll.findOne({ run_id: 'r129' }))?.queue).toBe('q1');
    expect((await coll.findOne({ run_id: 'iso' }))?.created_at).toEqual(new Date(t));
    expect((await coll.findOne({ run_id: 'ms' }))?.created_at).toEqual(new Date(t));
    const obj = await coll.findOne({ run_id: 'obj' });
    expect(obj?.user_id).toEqual({ id: 7 });
    expect(obj?.created_at).toEqual(new Date(t));
    const second = await migrateMongoRuns(db, { queues, logger });
    expect(second).toMatchObject({ matched: 0, modified: 0, created: [], rebuilt: [] });
  });
});
