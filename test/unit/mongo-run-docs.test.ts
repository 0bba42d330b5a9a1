/**
 * The MongoDB store's exact filters, update pipelines and aggregation pipelines (the objects
 * MongoRunStore sends, from src/store/mongo-run-docs.ts) evaluated with mingo, an independent
 * implementation of MongoDB's query and aggregation language, against documents of both shapes: the
 * ones this store writes and the earlier system's (no created_at, seq, queue; numeric user_id).
 * This checks the query semantics without a server; the server's own behaviour (indexes, collMod, bulk
 * write errors, the 16 MiB limit) is tested in test/integration/mongo-run-store.test.ts (MONGO_URL).
 */
import fc from 'fast-check';
import { Aggregator, Query } from 'mingo';
import { type Document, ObjectId } from 'mongodb';
import {
  ACTIVE_STATUSES,
  applyRunUpdate,
  isMarksOnly,
  type JobRun,
  marksUpdate,
  prepareUpdate,
  RUN_TRUNCATED_MARKER,
  type RunIdentity,
  type RunUpdate,
} from '../../src/monitor/run';
import { isRunCursor, MAX_PAGE_SIZE, type RunQuery } from '../../src/monitor/run-store';
import {
  countActivePipeline,
  DUPLICATE_RUN_IDS_PIPELINE,
  decodeListCursor,
  encodeListCursor,
  existingRetention,
  fromDoc,
  indexSpecs,
  LIST_SORT,
  listQueries,
  MIGRATE_FILTER,
  migratePipeline,
  planIndexes,
  positionOf,
  readListPage,
  statsCountPipeline,
  statsFinishedFilter,
  updatePipeline,
  USER_PARTIAL,
} from '../../src/store/mongo-run-docs';
import { buildOps, MAX_BSON_BYTES, roundsOf } from '../../src/store/mongo-run-store';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const ident = (over: Partial<RunIdentity> = {}): RunIdentity => ({
  job_id: 'job_a',
  queue: 'q',
  created_at: new Date(T0).toISOString(),
  trigger: 'scheduled',
  user_id: null,
  ...over,
});
const upd = (run_id: string, seq: string, patch: RunUpdate['patch'], extra: Partial<RunUpdate> = {}) =>
  ({ run_id, seq, identity: ident(), patch, logs: [], ...extra }) as RunUpdate;

/** An upsert on {run_id} with the store's pipeline, as the server does it: a new document starts as {run_id}. */
function upsert(coll: Document[], u: RunUpdate): void {
  const i = coll.findIndex((d) => d.run_id === u.run_id);
  if (i < 0 && isMarksOnly(u)) return; // the store sends marks-only updates with upsert: false
  const doc = i >= 0 ? coll[i] : { run_id: u.run_id };
  const [out] = new Aggregator(updatePipeline(prepareUpdate(u))).run([doc]) as Document[];
  if (i >= 0) coll[i] = out;
  else coll.push(out);
}

/** A seed-shaped document (the earlier system): no created_at, seq, queue; numeric user_id. */
const oldDoc = (run_id: string, startedMs: number | null, over: Document = {}): Document => ({
  _id: new ObjectId(),
  run_id,
  job_id: 'job_a',
  status: 'completed',
  progress: 100,
  total_items: 10,
  processed_items: 10,
  started_at: startedMs === null ? null : new Date(startedMs),
  ended_at: startedMs === null ? null : new Date(startedMs + 1000),
  trigger: 'scheduled',
  user_id: 123456,
  logs: [{ time: new Date(T0).toISOString(), level: 'info', message: 'old line' }],
  error_message: null,
  result: { n: 10 },
  ...over,
});

const find = (coll: Document[], filter: Document) => new Query(filter).find(coll);

/** `find(filter).sort(LIST_SORT).limit(n)` on `coll`, evaluated by mingo. */
const mingoFind = (coll: Document[]) => async (filter: Document, n: number) =>
  find(coll, filter)
    .sort({ ...LIST_SORT })
    .limit(n)
    .all() as Document[];

/** Pages through `coll` exactly as MongoRunStore.list does (the same readListPage, with mingo's find). */
async function listAll(
  coll: Document[],
  query: RunQuery,
  limit: number,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await readListPage({ ...query, cursor }, limit, mingoFind(coll));
    ids.push(...page.docs.map((d) => String(d.run_id)));
    cursor = page.next_cursor;
    pages++;
  } while (cursor && pages < 100);
  return { ids, pages };
}

/** Depth of nested objects and arrays, as BSON counts it (`{a: 1}` is 1). */
const bsonDepth = (v: unknown): number =>
  v !== null && typeof v === 'object' && !(v instanceof Date)
    ? 1 + Math.max(0, ...Object.values(v as object).map((c) => bsonDepth(c)))
    : 0;

describe('update pipeline (mingo)', () => {
  it('a new run written with seq "" keeps its patch; a repeated "" changes nothing', () => {
    const coll: Document[] = [];
    upsert(coll, upd('r1', '', { status: 'pending', progress: 0 }, { identity: ident({ user_id: 'u1' }) }));
    expect(fromDoc(coll[0])).toMatchObject({ status: 'pending', seq: '', user_id: 'u1', job_id: 'job_a' });
    upsert(coll, upd('r1', '', { status: 'failed' }));
    expect(coll[0].status).toBe('pending');
    upsert(coll, upd('r1', '001', { status: 'running' }));
    expect(coll[0]).toMatchObject({ status: 'running', seq: '001' });
  });

  it('writes identity fields only when the run is created, never from a later (even stale) update', () => {
    const coll: Document[] = [];
    upsert(coll, upd('r1', '002', { status: 'running' }));
    upsert(
      coll,
      upd('r1', '001', {}, { identity: ident({ trigger: 'manual', job_id: 'other', user_id: 'u9' }) }),
    );
    upsert(coll, upd('r1', '003', {}, { identity: ident({ trigger: 'api', queue: 'q2' }) }));
    expect(fromDoc(coll[0])).toMatchObject({
      trigger: 'scheduled',
      job_id: 'job_a',
      queue: 'q',
      user_id: null,
    });
    expect('user_id' in coll[0]).toBe(false); // absent, not null: the partial user indexes skip it
    // An old document missing `queue` is not re-filled by new events either (the migration does that).
    const old = [oldDoc('o1', T0)];
    upsert(old, upd('o1', '005', { progress: 100 }, { identity: ident({ queue: 'qq' }) }));
    expect('queue' in old[0]).toBe(false);
  });

  it("a later attempt's start records the earlier one as stalled, exactly as applyRunUpdate does", () => {
    const coll: Document[] = [];
    const s1 = new Date(T0 + 10).toISOString();
    const s2 = new Date(T0 + 900).toISOString();
    const first = upd('s1', '001', { status: 'running', attempts: 1, started_at: s1, worker: 'host-a:1' });
    const second = upd('s1', '003', { status: 'running', attempts: 2, started_at: s2, worker: 'host-b:2' });
    const stall = upd(
      's1',
      '002',
      {},
      {
        attempt: {
          attempt: 1,
          started_at: null,
          ended_at: s2,
          worker: null,
          outcome: 'stalled',
          error: null,
        },
      },
    );
    for (const u of [first, second, stall]) upsert(coll, u);
    const reference = [first, second, stall].reduce<JobRun | null>((run, u) => applyRunUpdate(run, u), null);
    expect(fromDoc(coll[0]).attempts_log).toEqual(reference!.attempts_log);
    expect(reference!.attempts_log).toEqual([
      { attempt: 1, started_at: s1, ended_at: s2, worker: 'host-a:1', outcome: 'stalled', error: null },
    ]);
  });

  it('an invalid created_at becomes now (as in the Redis store), never 1970', () => {
    const coll: Document[] = [];
    const before = Date.now();
    upsert(coll, upd('r1', '001', { status: 'pending' }, { identity: ident({ created_at: 'not a time' }) }));
    expect(coll[0].created_at).toBeInstanceOf(Date);
    expect(coll[0].created_at.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('an old document (no seq) takes new events and keeps its own fields', () => {
    const coll = [oldDoc('o1', T0, { status: 'running' })];
    upsert(
      coll,
      upd(
        'o1',
        '010',
        { status: 'completed' },
        { logs: [{ time: 't', level: 'info', message: 'new', seq: '010' }] },
      ),
    );
    const run = fromDoc(coll[0]);
    expect(run).toMatchObject({ status: 'completed', seq: '010', user_id: '123456', queue: '' });
    expect(run.logs.map((l) => l.message)).toEqual(['old line', 'new']);
    expect(run.created_at).toBe(new Date(T0).toISOString()); // falls back to started_at
  });

  it('equals the reference applyRunUpdate for any sequence of updates (property)', () => {
    const seqArb = fc.constantFrom('', '001', '002', '003', '004');
    const updArb = fc.record({
      seq: seqArb,
      status: fc.constantFrom('pending', 'running', 'completed', 'failed', 'cancelled'),
      marks: fc.option(
        fc.record(
          {
            stuck: fc.boolean(),
            stuck_reason: fc.constantFrom('running_too_long', 'not_picked_up', null),
            stuck_since: fc.constantFrom(new Date(T0 + 5).toISOString(), null),
            retried_by: fc.constantFrom('r2', null),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      marksOnly: fc.boolean(),
      attempt: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
      progress: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      result: fc.option(fc.jsonValue(), { nil: undefined }),
      logSeqs: fc.array(seqArb, { maxLength: 3 }),
      trigger: fc.constantFrom('scheduled', 'manual', 'api'),
    });
    fc.assert(
      fc.property(fc.array(updArb, { minLength: 1, maxLength: 8 }), (list) => {
        const coll: Document[] = [];
        let ref: JobRun | null = null;
        list.forEach((x, i) => {
          if (x.marks && x.marksOnly) {
            const u = marksUpdate({ run_id: 'r', ...ident() }, x.marks as RunUpdate['marks'] & object);
            upsert(coll, u);
            ref = applyRunUpdate(ref, prepareUpdate(u)) ?? null;
            return;
          }
          const attempt =
            x.attempt === undefined
              ? {}
              : {
                  attempt: {
                    attempt: x.attempt,
                    started_at: new Date(T0 + i).toISOString(),
                    ended_at: null,
                    worker: `w${i}`,
                    outcome: 'failed' as const,
                    error: `e${i}`,
                  },
                };
          const u = upd(
            'r',
            x.seq,
            {
              status: x.status as JobRun['status'],
              ...(x.progress === undefined ? {} : { progress: x.progress }),
              ...(x.result === undefined ? {} : { result: x.result }),
            },
            {
              identity: ident({ trigger: x.trigger as RunIdentity['trigger'] }),
              logs: x.logSeqs.map((s, j) => ({ time: 't', level: 'info', message: `${i}.${j}`, seq: s })),
              ...(x.marks ? { marks: x.marks as RunUpdate['marks'] } : {}),
              ...attempt,
            },
          );
          upsert(coll, u);
          ref = applyRunUpdate(ref, prepareUpdate(u));
        });
        if (!ref) {
          expect(coll).toHaveLength(0);
          return;
        }
        const got = fromDoc(coll[0]);
        const want = ref as unknown as JobRun;
        expect({ ...got, logs: got.logs.map((l) => l.message) }).toEqual({
          ...want,
          result: want.result ?? null,
          logs: want.logs.map((l) => l.message),
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('list filter and cursor (mingo)', () => {
  const mixed = (): Document[] => {
    const coll: Document[] = [];
    for (let i = 0; i < 9; i++) {
      upsert(
        coll,
        upd(
          `n${i}`,
          '001',
          { status: i % 2 ? 'completed' : 'running' },
          {
            identity: ident({
              created_at: new Date(T0 + Math.floor(i / 3) * 1000).toISOString(),
              user_id: i % 3 ? null : 'u1',
            }),
          },
        ),
      );
    }
    for (let i = 0; i < 7; i++)
      coll.push(oldDoc(`o${i}`, i % 2 ? T0 - i * 1000 : null, { status: 'running' }));
    return coll;
  };

  /** Every document's run_id in LIST_SORT order (mingo's sort follows MongoDB's order of types). */
  const sortedIds = (coll: Document[]) =>
    find(coll, {})
      .sort({ ...LIST_SORT })
      .all()
      .map((d) => String((d as Document).run_id));

  it('pages over new and old documents once each, in sort order, and always ends', async () => {
    const coll = mixed();
    for (const limit of [1, 2, 3, 4, 7, 50]) {
      const { ids } = await listAll(coll, {}, limit);
      expect(ids).toHaveLength(16);
      expect(new Set(ids).size).toBe(16);
      expect(ids).toEqual(sortedIds(coll));
      // Old documents (no created_at) come last, by run_id.
      expect(ids.slice(9)).toEqual(['o6', 'o5', 'o4', 'o3', 'o2', 'o1', 'o0']);
    }
    // The recordings cleanup's filter (job + active statuses, 200 a page) ends too.
    const active = await listAll(coll, { job_id: 'job_a', status: [...ACTIVE_STATUSES] }, MAX_PAGE_SIZE);
    expect(active.pages).toBe(1);
    const activeSmall = await listAll(coll, { job_id: 'job_a', status: [...ACTIVE_STATUSES] }, 2);
    expect(activeSmall.ids).toHaveLength(12);
  });

  it('a cursor ending on an old document continues after it (the old Date.parse(null) cursor restarted)', async () => {
    const coll = mixed();
    const pos = positionOf(coll.find((d) => d.run_id === 'o4') as Document);
    expect(pos).toEqual({ kind: 'null', runId: 'o4' });
    const cursor = encodeListCursor(pos);
    // The same form as before (`legacy:<run_id>`), so a cursor handed out earlier still continues.
    expect(Buffer.from(cursor, 'base64url').toString()).toBe('legacy:o4');
    expect(isRunCursor(cursor)).toBe(true); // the API accepts it (it answered 400 before)
    const next = await readListPage({ cursor }, 50, mingoFind(coll));
    expect(next.docs.map((d) => d.run_id)).toEqual(['o3', 'o2', 'o1', 'o0']);
    expect(next.next_cursor).toBeNull();
  });

  it('created_at stored as ISO text, ms, NaN, true, null, missing or before 1970: every run once, in order', async () => {
    const coll: Document[] = [
      ...mixed(),
      oldDoc('s1', null, { created_at: '2025-06-01T00:00:00.000Z' }),
      oldDoc('s2', null, { created_at: '2025-06-01T00:00:00.000Z' }),
      oldDoc('s3', null, { created_at: 'Mon Jan 01 2024' }),
      oldDoc('s4', null, { created_at: `${'z'.repeat(150)}` }),
      oldDoc('m1', null, { created_at: 1_700_000_000_000 }),
      oldDoc('m2', null, { created_at: 1_700_000_000_000 }),
      oldDoc('m3', null, { created_at: -5 }),
      oldDoc('m4', null, { created_at: Number.NaN }),
      oldDoc('b1', null, { created_at: true }),
      oldDoc('p1', null, { created_at: new Date(-86_400_000) }),
      oldDoc('p2', null, { created_at: new Date(-86_400_000) }),
      oldDoc('p3', null, { created_at: new Date(-1) }),
    ];
    const all = sortedIds(coll);
    expect(all).toHaveLength(28);
    // Times first (those before 1970 last among them), then the other types, strings, numbers, nulls.
    expect(all.indexOf('p1')).toBeLessThan(all.indexOf('b1'));
    expect(all.indexOf('b1')).toBeLessThan(all.indexOf('s4'));
    expect(all.indexOf('s3')).toBeLessThan(all.indexOf('m1'));
    expect(all.indexOf('m4')).toBeLessThan(all.indexOf('o6'));
    for (const limit of [1, 2, 3, 5, 13, 200]) {
      const { ids, pages } = await listAll(coll, {}, limit);
      expect({ limit, ids }).toEqual({ limit, ids: all });
      expect(pages).toBe(Math.max(1, Math.ceil(all.length / limit)));
    }
    // Filtered lists too (the recordings cleanup pages with a job and the active statuses).
    const active = coll.filter((d) => ACTIVE_STATUSES.includes(d.status));
    const want = sortedIds(active);
    expect((await listAll(coll, { job_id: 'job_a', status: [...ACTIVE_STATUSES] }, 2)).ids).toEqual(want);
    // Read back as times where they are times.
    const byId = (id: string) => fromDoc(coll.find((d) => d.run_id === id) as Document);
    expect(byId('s3').created_at).toBe(new Date('Mon Jan 01 2024').toISOString());
    expect(byId('m1').created_at).toBe(new Date(1_700_000_000_000).toISOString());
    expect(byId('p1').created_at).toBe('1969-12-31T00:00:00.000Z');
  });

  it('a page that ends before 1970 continues (its cursor has a negative time)', async () => {
    const coll = [-3, -2, -1, 1].map((d, i) =>
      oldDoc(`r${i}`, null, { created_at: new Date(d * 86_400_000), seq: '', queue: 'q' }),
    );
    const first = await readListPage({}, 2, mingoFind(coll));
    expect(first.docs.map((d) => d.run_id)).toEqual(['r3', 'r2']);
    expect(decodeListCursor(first.next_cursor as string)).toEqual({ createdAtMs: -86_400_000, runId: 'r2' });
    const second = await readListPage({ cursor: first.next_cursor }, 2, mingoFind(coll));
    expect(second.docs.map((d) => d.run_id)).toEqual(['r1', 'r0']);
  });

  it('decodes only its own cursors; the filters after a normal cursor bound created_at (index-friendly)', () => {
    for (const bad of ['', 'not-a-cursor', 'bGVnYWN5LXM6W10', 'bGVnYWN5LW46WyJ4IiwiciJd']) {
      expect(decodeListCursor(bad)).toBeNull();
    }
    const hostile = Buffer.from(`legacy-s:${JSON.stringify(['x'.repeat(500), 'r'])}`).toString('base64url');
    expect(decodeListCursor(hostile)).toBeNull();
    for (const pos of [
      { kind: 'string' as const, value: 'a"b', runId: 'r:1' },
      { kind: 'number' as const, value: Number.NaN, runId: 'r' },
      { kind: 'number' as const, value: -Infinity, runId: 'r' },
      { kind: 'other' as const, runId: 'legacy:x' },
    ]) {
      expect(decodeListCursor(encodeListCursor(pos))).toEqual(pos);
    }
    const [page, untimed] = listQueries({ status: ['running'] }, { createdAtMs: T0, runId: 'r5' });
    expect(page).toEqual({
      status: { $in: ['running'] },
      $and: [
        { created_at: { $lte: new Date(T0) } },
        { $or: [{ created_at: { $lt: new Date(T0) } }, { run_id: { $lt: 'r5' } }] },
      ],
    });
    expect(untimed).toEqual({
      status: { $in: ['running'] },
      $and: [{ created_at: { $not: { $type: 'date' } } }],
    });
    // With a time range only timed runs can match: one query, and none after an untimed position.
    expect(listQueries({ since: T0 }, { createdAtMs: T0, runId: 'r5' })).toHaveLength(1);
    expect(listQueries({ since: T0 }, { kind: 'null', runId: 'r5' })).toEqual([]);
  });

  it('time filters match new documents only; user and trigger filters work on both shapes', async () => {
    const coll = mixed();
    expect((await listAll(coll, { since: T0 + 1000 }, 50)).ids.sort()).toEqual([
      'n3',
      'n4',
      'n5',
      'n6',
      'n7',
      'n8',
    ]);
    expect((await listAll(coll, { before: T0 + 1000 }, 50)).ids.sort()).toEqual(['n0', 'n1', 'n2']);
    expect((await listAll(coll, { user_id: 'u1' }, 2)).ids).toEqual(['n6', 'n3', 'n0']);
    expect((await listAll(coll, { trigger: 'scheduled', status: ['completed'] }, 3)).ids).toEqual([
      'n7',
      'n5',
      'n3',
      'n1',
    ]);
  });
});

describe('stuck and search filters (mingo)', () => {
  it('q matches a run id, user id or search term lowercased and trimmed; stuck filters the flagged runs', async () => {
    const coll: Document[] = [];
    const at = (ms: number) => ident({ created_at: new Date(T0 + ms).toISOString() });
    upsert(coll, upd('Run-X', '1', { status: 'running' }, { identity: { ...at(1), user_id: 'Alice@X.io' } }));
    upsert(
      coll,
      upd('r2', '1', { status: 'running' }, { identity: { ...at(2), search: ['order-1', 'acme'] } }),
    );
    upsert(coll, upd('r3', '1', { status: 'failed' }, { identity: { ...at(3), user_id: 'acme' } }));
    upsert(coll, upd('r4', '1', { status: 'completed' }, { identity: { ...at(4), search: ['acme-2'] } }));
    upsert(coll, marksUpdate({ run_id: 'r2', ...at(2) }, { stuck: true, stuck_reason: 'no_workers' }));
    upsert(coll, marksUpdate({ run_id: 'r3', ...at(3) }, { stuck: true, stuck_reason: 'no_workers' }));
    upsert(coll, marksUpdate({ run_id: 'zz', ...at(5) }, { stuck: true }));
    const ids = async (q: RunQuery) => (await listAll(coll, q, 2)).ids;
    expect(coll.map((d) => d.run_id)).toEqual(['Run-X', 'r2', 'r3', 'r4']);
    expect(await ids({ q: ' run-x ' })).toEqual(['Run-X']);
    expect(await ids({ q: 'alice@x.io' })).toEqual(['Run-X']);
    expect(await ids({ q: 'ACME' })).toEqual(['r3', 'r2']);
    expect(await ids({ q: 'acme', status: ['failed'] })).toEqual(['r3']);
    expect(await ids({ q: 'acm' })).toEqual([]);
    // r3 is finished: the stuck mark is ignored on it.
    expect(await ids({ stuck: true })).toEqual(['r2']);
    expect(await ids({ stuck: false })).toEqual(['r4', 'r3', 'Run-X']);
    expect(fromDoc(coll[1])).not.toHaveProperty('search');
    expect(indexSpecs(60).map((i) => i.name)).toEqual(
      expect.arrayContaining(['stuck_created_at', 'search_created_at']),
    );
    const plan = planIndexes(
      indexSpecs(60).filter((i) => i.name !== 'stuck_created_at'),
      indexSpecs(60),
    );
    expect(plan.create.map((c) => c.name)).toEqual(['stuck_created_at']);
  });
});

describe('stats and countActive pipelines (mingo)', () => {
  it('count by status in the window and sample the newest finished runs', () => {
    const coll: Document[] = [];
    const statuses = ['completed', 'failed', 'skipped', 'running', 'pending'] as const;
    for (let i = 0; i < 10; i++) {
      upsert(
        coll,
        upd(
          `s${i}`,
          '001',
          { status: statuses[i % 5], duration_ms: i },
          {
            identity: ident({
              created_at: new Date(T0 + i * 1000).toISOString(),
              job_id: i === 9 ? 'job_b' : 'job_a',
            }),
          },
        ),
      );
    }
    coll.push(oldDoc('old', T0 + 5000));
    const counts = new Aggregator(statsCountPipeline('job_a', T0 + 2000)).run(coll) as Document[];
    expect(Object.fromEntries(counts.map((c) => [c._id, c.n]))).toEqual({
      completed: 1,
      failed: 1,
      skipped: 2,
      running: 2,
      pending: 1,
    });
    const finished = find(coll, statsFinishedFilter('job_a', T0))
      .sort({ ...LIST_SORT })
      .limit(3)
      .all();
    expect(finished.map((d) => (d as Document).run_id)).toEqual(['s7', 's6', 's5']);
    const active = new Aggregator(countActivePipeline(ACTIVE_STATUSES)).run(coll) as Document[];
    expect(Object.fromEntries(active.map((c) => [c._id, c.n]))).toEqual({ job_a: 3, job_b: 1 });
  });
});

describe('migration backfill (mingo)', () => {
  it('backfills old documents, leaves new ones alone, and a rerun changes nothing', async () => {
    const coll: Document[] = [];
    upsert(coll, upd('n1', '001', { status: 'completed' }));
    const newBefore = structuredClone(coll[0]);
    coll.push(
      oldDoc('o1', T0 - 5000),
      oldDoc('o2', null, { status: 'pending', user_id: null }),
      oldDoc('o3', T0, { user_id: 'x' }),
    );
    const pipeline = migratePipeline({ job_a: 'default' });

    const matched = find(coll, MIGRATE_FILTER).all() as Document[];
    expect(matched.map((d) => d.run_id)).toEqual(['o1', 'o2', 'o3']);
    const migrated = new Aggregator(pipeline).run(matched) as Document[];
    const after = coll.map((d) => migrated.find((m) => m.run_id === d.run_id) ?? d);

    expect(after[0]).toEqual(newBefore);
    const o1 = after.find((d) => d.run_id === 'o1') as Document;
    expect(o1).toMatchObject({ seq: '', queue: 'default', user_id: '123456', attempts: 0, stalls: 0 });
    expect(o1.created_at).toEqual(new Date(T0 - 5000));
    const o2 = after.find((d) => d.run_id === 'o2') as Document;
    expect('user_id' in o2).toBe(false);
    expect(o2.created_at).toBeInstanceOf(Date); // the ObjectId's time on a server; mingo gives $$NOW
    expect((after.find((d) => d.run_id === 'o3') as Document).user_id).toBe('x');

    // Idempotent: nothing matches any more, and applying the pipeline again changes nothing.
    expect(find(after, MIGRATE_FILTER).all()).toHaveLength(0);
    expect(new Aggregator(pipeline).run(structuredClone(after))).toEqual(after);
    // Migrated documents page by created_at like new ones.
    expect((await listAll(after, {}, 1)).ids).toEqual(
      ['o3', 'n1', 'o1', 'o2'].sort((a, b) => {
        const t = (id: string) => (after.find((d) => d.run_id === id) as Document).created_at.getTime();
        return t(b) - t(a) || (a < b ? 1 : -1);
      }),
    );
  });
});

describe('migration edge cases (mingo)', () => {
  it('converts ISO-text and ms created_at, falls back for junk, keeps an object user_id, never throws', () => {
    const coll: Document[] = [
      oldDoc('iso', T0 - 9000, { created_at: '2025-06-01T12:00:00.000Z' }),
      oldDoc('ms', T0 - 9000, { created_at: 1_700_000_000_000 }),
      oldDoc('junk', T0 - 9000, { created_at: 'yesterday' }),
      oldDoc('obj', T0 - 9000, { created_at: { at: 1 }, user_id: { id: 7, name: 'x' } }),
      oldDoc('arr', null, { started_at: '2025-01-02T00:00:00.000Z', user_id: ['a', 'b'] }),
      oldDoc('bad-start', null, { started_at: 'never' }),
    ];
    const matched = find(coll, MIGRATE_FILTER).all() as Document[];
    expect(matched).toHaveLength(6);
    const out = new Aggregator(migratePipeline({ job_a: 'default' })).run(matched) as Document[];
    const by = (id: string) => out.find((d) => d.run_id === id) as Document;
    expect(by('iso').created_at).toEqual(new Date('2025-06-01T12:00:00.000Z'));
    expect(by('ms').created_at).toEqual(new Date(1_700_000_000_000));
    expect(by('junk').created_at).toEqual(new Date(T0 - 9000)); // from started_at
    expect(by('obj').created_at).toEqual(new Date(T0 - 9000));
    expect(by('obj').user_id).toEqual({ id: 7, name: 'x' }); // $toString would have failed the migration
    expect(by('arr').created_at).toEqual(new Date('2025-01-02T00:00:00.000Z')); // a text started_at
    expect(by('arr').user_id).toEqual(['a', 'b']);
    expect(by('bad-start').created_at).toBeInstanceOf(Date); // ObjectId time on a server; $$NOW in mingo
    for (const d of out) expect(d.created_at).toBeInstanceOf(Date);
    // Every migrated document is out of the filter: a rerun matches none of them.
    expect(find(out, MIGRATE_FILTER).all()).toHaveLength(0);
    expect(fromDoc(by('obj')).user_id).toBe('{"id":7,"name":"x"}');
  });

  it('maps 200 jobs to their queues with a pipeline whose nesting stays shallow (MongoDB allows 200 levels)', () => {
    const queues = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`job_${i}`, `queue_${i % 7}`]));
    const pipeline = migratePipeline(queues);
    // The whole update command wraps the pipeline in a few more levels ({updates: [{u: [...]}]}).
    expect(
      bsonDepth({ update: 'job_runs', updates: [{ q: MIGRATE_FILTER, u: pipeline, multi: true }] }),
    ).toBeLessThan(100);
    expect(bsonDepth(migratePipeline({}))).toBe(bsonDepth(pipeline));
    const docs = [
      ...Array.from({ length: 200 }, (_, i) => oldDoc(`r${i}`, T0, { job_id: `job_${i}` })),
      oldDoc('unknown', T0, { job_id: 'not_in_jobs_yml' }),
      oldDoc('nojob', T0, { job_id: undefined }),
      oldDoc('has-queue', T0, { job_id: 'job_3', queue: 'kept' }),
    ];
    const out = new Aggregator(pipeline).run(docs) as Document[];
    for (let i = 0; i < 200; i++) expect(out[i].queue).toBe(`queue_${i % 7}`);
    expect(out.slice(200).map((d) => d.queue)).toEqual(['', '', 'kept']);
  });
});

describe('index plan (pure)', () => {
  const seedIndexes = [
    { name: '_id_', key: { _id: 1 } },
    { name: 'job_id_1_started_at_-1', key: { job_id: 1, started_at: -1 } },
    { name: 'status_1', key: { status: 1 } },
    { name: 'started_at_-1', key: { started_at: -1 }, expireAfterSeconds: 86400 },
    { name: 'user_id_1_job_id_1', key: { user_id: 1, job_id: 1 }, sparse: true },
    { name: 'created_at_run_id', key: { trigger: 1 } },
  ];
  it("adopts the seed's indexes by key, changes a TTL with collMod, keeps a differing one, avoids name clashes", () => {
    const plan = planIndexes(seedIndexes, indexSpecs(604800));
    expect(plan.adopt).toEqual([
      { want: 'job_id_started_at', have: 'job_id_1_started_at_-1' },
      { want: 'status', have: 'status_1' },
      { want: 'started_at_ttl', have: 'started_at_-1' },
    ]);
    expect(plan.collMod).toEqual([
      { name: 'started_at_-1', key: { started_at: -1 }, from: 86400, to: 604800 },
    ]);
    expect(plan.differ.map((d) => [d.have.name, d.why])).toEqual([
      ['user_id_1_job_id_1', expect.stringContaining('sparse')],
    ]);
    const created = plan.create.map((c) => c.name);
    expect(created).toContain('created_at_run_id_2');
    expect(created).toContain('user_id_created_at');
    expect(created).not.toContain('status');
    // A second start with everything in place does nothing.
    const all = [
      ...seedIndexes.filter((i) => i.name !== 'user_id_1_job_id_1'),
      ...indexSpecs(604800).filter(
        (s) => s.name !== 'started_at_ttl' && s.name !== 'job_id_started_at' && s.name !== 'status',
      ),
    ].map((i) => (i.name === 'started_at_-1' ? { ...i, expireAfterSeconds: 604800 } : i));
    const again = planIndexes(all, indexSpecs(604800));
    expect(again.create).toEqual([]);
    expect(again.collMod).toEqual([]);
    expect(again.differ).toEqual([]);
  });
});

describe('index plan: reversed keys, rebuilds, retention, duplicates (pure and mingo)', () => {
  it('an index on the reversed keys serves the same queries: adopted, and a rebuild builds on them', () => {
    const existing = [
      { name: 'run_id_-1', key: { run_id: -1 }, unique: true },
      { name: 'jc', key: { job_id: -1, created_at: 1, run_id: 1 } },
      { name: 'user_id_1_job_id_1', key: { user_id: 1, job_id: 1 }, sparse: true },
    ];
    const plan = planIndexes(existing, indexSpecs(604800));
    expect(plan.adopt).toEqual(
      expect.arrayContaining([
        { want: 'run_id_unique', have: 'run_id_-1' },
        { want: 'job_id_created_at', have: 'jc' },
      ]),
    );
    expect(plan.create.map((c) => c.name)).not.toContain('run_id_unique');
    expect(plan.differ).toEqual([
      expect.objectContaining({
        have: existing[2],
        rebuildAs: {
          key: { user_id: -1, job_id: -1 },
          name: 'user_id_job_id',
          partialFilterExpression: { user_id: { $exists: true } },
        },
      }),
    ]);
    // After the rebuild, the next plan adopts the new index and wants nothing more.
    const after = [
      ...existing.slice(0, 2),
      { name: 'user_id_job_id', key: { user_id: -1, job_id: -1 }, partialFilterExpression: USER_PARTIAL },
    ];
    const again = planIndexes(after, indexSpecs(604800));
    expect(again.differ).toEqual([]);
    expect(again.create.map((c) => c.name)).not.toContain('user_id_job_id');
    expect(again.create.map((c) => c.name)).not.toContain('user_id_job_id_2');
  });

  it('reads the TTLs that expire runs (started_at, created_at, either direction) and none of the others', () => {
    const existing = [
      { name: 'a', key: { started_at: 1 }, expireAfterSeconds: 100 },
      { name: 'b', key: { created_at: -1 }, expireAfterSeconds: 200 },
      { name: 'c', key: { ended_at: 1 }, expireAfterSeconds: 5 },
      { name: 'd', key: { created_at: -1, run_id: -1 } },
    ];
    expect(existingRetention(existing, indexSpecs(604800)).sort()).toEqual([100, 200]);
    expect(indexSpecs(null).filter((s) => s.expireAfterSeconds !== undefined)).toEqual([]);
  });

  it('the aggregation the README and the start-up error give finds the duplicate run_ids', () => {
    const docs = [
      { _id: 1, run_id: 'a' },
      { _id: 2, run_id: 'b' },
      { _id: 3, run_id: 'a' },
      { _id: 4, run_id: 'c' },
      { _id: 5, run_id: 'c' },
      { _id: 6, run_id: 'c' },
    ];
    const out = new Aggregator(DUPLICATE_RUN_IDS_PIPELINE).run(docs) as Document[];
    expect(out.map((d) => [d._id, d.n, d.ids]).sort()).toEqual([
      ['a', 2, [1, 3]],
      ['c', 3, [4, 5, 6]],
    ]);
  });
});

describe('batches', () => {
  it('a run’s updates go to successive rounds, in order; other runs share a round', () => {
    const rounds = roundsOf([upd('a', '1', {}), upd('b', '1', {}), upd('a', '2', {}), upd('a', '3', {})]);
    expect(rounds.map((r) => r.map((u) => `${u.run_id}${u.seq}`))).toEqual([['a1', 'b1'], ['a2'], ['a3']]);
  });

  it('sets apart an update over 16 MiB (the driver would refuse the whole bulk write) — the cap prevents it', () => {
    const huge = 'x'.repeat(MAX_BSON_BYTES);
    const { ops, oversized } = buildOps([
      upd('a', '1', { result: huge }),
      upd('b', '1', { status: 'running' }),
    ]);
    expect(oversized.map((o) => o.update.run_id)).toEqual(['a']);
    expect(ops.map((o) => o.update.run_id)).toEqual(['b']);
    const capped = buildOps([prepareUpdate(upd('a', '1', { result: huge, error_message: huge }))]);
    expect(capped.oversized).toEqual([]);
    const result = (capped.ops[0].update.patch.result ?? {}) as { truncated?: string };
    expect(result.truncated).toBe(RUN_TRUNCATED_MARKER);
  });
});
