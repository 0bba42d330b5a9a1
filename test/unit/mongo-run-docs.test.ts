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
import { MAX_PAGE_SIZE, type RunQuery } from '../../src/monitor/run-store';
import {
  countActivePipeline,
  decodeListCursor,
  encodeListCursor,
  fromDoc,
  indexSpecs,
  LIST_SORT,
  listFilter,
  MIGRATE_FILTER,
  migratePipeline,
  planIndexes,
  positionOf,
  statsCountPipeline,
  statsFinishedFilter,
  updatePipeline,
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

/** Pages through `coll` exactly as MongoRunStore.list does. */
function listAll(coll: Document[], query: RunQuery, limit: number): { ids: string[]; pages: number } {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const after = cursor ? decodeListCursor(cursor) : null;
    const docs = find(coll, listFilter(query, after))
      .sort({ ...LIST_SORT })
      .limit(limit + 1)
      .all() as Document[];
    const page = docs.slice(0, limit);
    ids.push(...page.map((d) => String(d.run_id)));
    const last = page[page.length - 1];
    cursor = docs.length > limit && last ? encodeListCursor(positionOf(last)) : null;
    pages++;
  } while (cursor && pages < 100);
  return { ids, pages };
}

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

  it('pages over new and old documents once each, in sort order, and always ends', () => {
    const coll = mixed();
    for (const limit of [1, 2, 3, 4, 7, 50]) {
      const { ids } = listAll(coll, {}, limit);
      expect(ids).toHaveLength(16);
      expect(new Set(ids).size).toBe(16);
      const sorted = find(coll, {})
        .sort({ ...LIST_SORT })
        .all()
        .map((d) => String((d as Document).run_id));
      expect(ids).toEqual(sorted);
      // Old documents (no created_at) come last, by run_id.
      expect(ids.slice(9)).toEqual(['o6', 'o5', 'o4', 'o3', 'o2', 'o1', 'o0']);
    }
    // The recordings cleanup's filter (job + active statuses, 200 a page) ends too.
    const active = listAll(coll, { job_id: 'job_a', status: [...ACTIVE_STATUSES] }, MAX_PAGE_SIZE);
    expect(active.pages).toBe(1);
    const activeSmall = listAll(coll, { job_id: 'job_a', status: [...ACTIVE_STATUSES] }, 2);
    expect(activeSmall.ids).toHaveLength(12);
  });

  it('a cursor ending on an old document continues after it (the old Date.parse(null) cursor restarted)', () => {
    const coll = mixed();
    const pos = positionOf(coll.find((d) => d.run_id === 'o4') as Document);
    expect(pos).toEqual({ legacy: true, runId: 'o4' });
    const next = find(coll, listFilter({}, decodeListCursor(encodeListCursor(pos))))
      .sort({ ...LIST_SORT })
      .all();
    expect(next.map((d) => (d as Document).run_id)).toEqual(['o3', 'o2', 'o1', 'o0']);
  });

  it('time filters match new documents only; user and trigger filters work on both shapes', () => {
    const coll = mixed();
    expect(listAll(coll, { since: T0 + 1000 }, 50).ids.sort()).toEqual(['n3', 'n4', 'n5', 'n6', 'n7', 'n8']);
    expect(listAll(coll, { before: T0 + 1000 }, 50).ids.sort()).toEqual(['n0', 'n1', 'n2']);
    expect(listAll(coll, { user_id: 'u1' }, 2).ids).toEqual(['n6', 'n3', 'n0']);
    expect(listAll(coll, { trigger: 'scheduled', status: ['completed'] }, 3).ids).toEqual([
      'n7',
      'n5',
      'n3',
      'n1',
    ]);
  });
});

describe('stuck and search filters (mingo)', () => {
  it('q matches a run id, user id or search term lowercased and trimmed; stuck filters the flagged runs', () => {
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
    const ids = (q: RunQuery) => listAll(coll, q, 2).ids;
    expect(coll.map((d) => d.run_id)).toEqual(['Run-X', 'r2', 'r3', 'r4']);
    expect(ids({ q: ' run-x ' })).toEqual(['Run-X']);
    expect(ids({ q: 'alice@x.io' })).toEqual(['Run-X']);
    expect(ids({ q: 'ACME' })).toEqual(['r3', 'r2']);
    expect(ids({ q: 'acme', status: ['failed'] })).toEqual(['r3']);
    expect(ids({ q: 'acm' })).toEqual([]);
    // r3 is finished: the stuck mark is ignored on it.
    expect(ids({ stuck: true })).toEqual(['r2']);
    expect(ids({ stuck: false })).toEqual(['r4', 'r3', 'Run-X']);
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
  it('backfills old documents, leaves new ones alone, and a rerun changes nothing', () => {
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
    expect(listAll(after, {}, 1).ids).toEqual(
      ['o3', 'n1', 'o1', 'o2'].sort((a, b) => {
        const t = (id: string) => (after.find((d) => d.run_id === id) as Document).created_at.getTime();
        return t(b) - t(a) || (a < b ? 1 : -1);
      }),
    );
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
