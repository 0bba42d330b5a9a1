/**
 * MongoRunStore's own decisions about what MongoDB answered: which write errors are refused for good
 * (tracking error, skipped), which are retried (apply throws), how a write-concern error, a duplicate key, a
 * command refused as a whole and an unknown code are handled, and what init() does with the answers of
 * listIndexes / createIndex / collMod. The collection here is a stand-in ONLY at the level of "this call
 * throws this error": the errors are the driver's own classes (MongoBulkWriteError with a BulkWriteResult,
 * WriteError and WriteConcernError from node_modules/mongodb/lib/bulk/common, built the way the driver
 * builds them). Nothing here claims to test MongoDB: the server's own behaviour is in
 * test/integration/mongo-run-store.test.ts (MONGO_URL).
 */
import {
  BSON,
  type BulkWriteResult,
  type Db,
  type Document,
  MongoBulkWriteError,
  MongoInvalidArgumentError,
  MongoNetworkError,
  MongoServerError,
  type WriteConcernError,
  type WriteError,
} from 'mongodb';
import { RUN_RETENTION_SECONDS, type RunUpdate } from '../../src/monitor/run';
import { DUPLICATE_RUN_IDS_PIPELINE, indexSpecs } from '../../src/store/mongo-run-docs';
import {
  type BuiltOp,
  buildOps,
  chunkOps,
  DuplicateRunIdsError,
  MAX_BULK_BYTES,
  MAX_BULK_OPS,
  MongoRunStore,
} from '../../src/store/mongo-run-store';
import { classifyError, classifyWriteCode, readBulkFailure } from '../../src/store/mongo-write-errors';
import { memoryLogger } from '../helpers/logger';

// The driver's internal classes (exported as types only); the same ones executeCommands() builds.
const common = require('mongodb/lib/bulk/common') as {
  BulkWriteResult: new (result: Document, ordered: boolean) => BulkWriteResult;
  WriteError: new (err: Document) => WriteError;
  WriteConcernError: new (err: Document) => WriteConcernError;
};

type StatementErr = { index: number; code: number; errmsg: string };

function bulkResult(errors: StatementErr[], wce?: { code: number; errmsg: string }): BulkWriteResult {
  return new common.BulkWriteResult(
    {
      ok: 1,
      writeErrors: errors.map((e) => new common.WriteError({ ...e, errInfo: {}, op: {} })),
      writeConcernErrors: wce ? [new common.WriteConcernError(wce)] : [],
      insertedIds: [],
      nInserted: 0,
      nUpserted: 0,
      nMatched: 0,
      nModified: 0,
      nRemoved: 0,
      upserted: [],
    },
    false,
  );
}
/** As BulkOperationBase.handleWriteError throws it: statement errors only. */
const writeErrorsFailure = (errors: StatementErr[]) => {
  const r = bulkResult(errors);
  return new MongoBulkWriteError(
    { message: errors[0].errmsg, code: errors[0].code, writeErrors: r.getWriteErrors() },
    r,
  );
};
/** As executeCommands throws it when the reply had a writeConcernError (statement errors in `result` only). */
const writeConcernFailure = (
  errors: StatementErr[],
  wce = { code: 64, errmsg: 'waiting for replication timed out' },
) => new MongoBulkWriteError({ message: wce.errmsg, code: wce.code }, bulkResult(errors, wce));
/** As executeCommands throws a command that failed as a whole (a server or network error it wraps). */
const wholeFailure = (err: Error) => new MongoBulkWriteError(err, bulkResult([]));
const serverError = (code: number, errmsg = `error ${code}`, labels?: string[]) =>
  new MongoServerError({ ok: 0, code, errmsg, ...(labels ? { errorLabels: labels } : {}) });

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const upd = (run_id: string, patch: RunUpdate['patch'] = { status: 'running' }, seq = '001'): RunUpdate => ({
  run_id,
  seq,
  identity: {
    job_id: 'job_a',
    queue: 'q',
    created_at: new Date(T0).toISOString(),
    trigger: 'api',
    user_id: null,
  },
  patch,
  logs: [],
});

/** What bulkWrite/updateOne were asked to do; `script` says how each bulkWrite call answers, in turn. */
function fakeStore(
  script: ((runIds: string[]) => Error | undefined)[],
  opts: { unknownErrorAttempts?: number } = {},
) {
  const bulkCalls: string[][] = [];
  const tracking: { runId: string; upsert: boolean }[] = [];
  let updateOneError: Error | undefined;
  const collection = {
    collectionName: 'job_runs',
    async bulkWrite(ops: { updateOne: { filter: { run_id: string } } }[], options: { ordered: boolean }) {
      expect(options.ordered).toBe(false);
      const ids = ops.map((o) => o.updateOne.filter.run_id);
      bulkCalls.push(ids);
      const answer = script.shift()?.(ids);
      if (answer) throw answer;
      return {};
    },
    async updateOne(filter: { run_id: string }, _update: Document[], options: { upsert: boolean }) {
      if (updateOneError) throw updateOneError;
      tracking.push({ runId: filter.run_id, upsert: options.upsert });
      return {};
    },
  };
  const db = { databaseName: 'jm', collection: () => collection } as unknown as Db;
  const logs = memoryLogger();
  const store = new MongoRunStore(db, { logger: logs.logger, ...opts });
  return {
    store,
    bulkCalls,
    tracking,
    logs,
    failTrackingWith(err: Error | undefined) {
      updateOneError = err;
    },
    push(...answers: ((runIds: string[]) => Error | undefined)[]) {
      script.push(...answers);
    },
  };
}
const ok = () => undefined;

describe('classifying what MongoDB answered', () => {
  it('knows the transient codes, the permanent ones, duplicates, and leaves the rest unknown', () => {
    for (const code of [
      10107, 11602, 189, 91, 11600, 13435, 13436, 6, 89, 9001, 13388, 262, 50, 24, 112, 64,
    ]) {
      expect({ code, kind: classifyWriteCode(code) }).toEqual({ code, kind: 'transient' });
    }
    for (const code of [10334, 17419, 2, 9, 14, 28, 52, 55, 66, 121, 241, 15]) {
      expect({ code, kind: classifyWriteCode(code) }).toEqual({ code, kind: 'permanent' });
    }
    expect(classifyWriteCode(11000)).toBe('duplicate');
    expect(classifyWriteCode(987654)).toBe('unknown');
    expect(classifyWriteCode(undefined)).toBe('unknown');
  });

  it('a whole-command error: network and labelled-retryable ones are transient, the driver refusing to send is permanent', () => {
    expect(classifyError(new MongoNetworkError('connection reset'))).toBe('transient');
    expect(classifyError(serverError(987654, 'odd', ['RetryableWriteError']))).toBe('transient');
    expect(classifyError(serverError(10107))).toBe('transient');
    expect(classifyError(serverError(2, 'Document exceeds maximum nesting depth'))).toBe('permanent');
    expect(classifyError(serverError(987654))).toBe('unknown');
    expect(
      classifyError(new MongoInvalidArgumentError('Document is larger than the maximum size 16777216')),
    ).toBe('permanent');
    expect(classifyError(new BSON.BSONError('cannot serialize'))).toBe('permanent');
    // The driver wraps a network error into a MongoBulkWriteError without a code: still transient.
    expect(readBulkFailure(wholeFailure(new MongoNetworkError('reset')))?.whole?.kind).toBe('transient');
    expect(readBulkFailure(new TypeError('not ours'))).toBeNull();
  });

  it("reads a reply with both write errors and a write-concern error through the driver's accessors", () => {
    const err = writeConcernFailure([{ index: 1, code: 121, errmsg: 'Document failed validation' }]);
    // What the earlier code read: the driver 7 sets neither (so it saw "no write errors" and retried for ever).
    expect(err.writeErrors).toEqual([]);
    expect((err as unknown as { writeConcernError?: unknown }).writeConcernError).toBeUndefined();
    expect(readBulkFailure(err)).toEqual({
      writeErrors: [{ index: 1, code: 121, errmsg: 'Document failed validation' }],
      writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' },
      whole: null,
    });
    // A write-concern error alone, as handleWriteError throws it.
    const r = bulkResult([], { code: 100, errmsg: 'not enough data-bearing nodes' });
    const alone = new MongoBulkWriteError(r.getWriteConcernError() as WriteConcernError, r);
    expect(readBulkFailure(alone)).toMatchObject({
      writeErrors: [],
      writeConcernError: { code: 100 },
      whole: null,
    });
  });
});

describe('MongoRunStore.apply with the answers above', () => {
  it('a permanent write error is recorded as a tracking error on that run only; the batch succeeds', async () => {
    const f = fakeStore([
      () => writeErrorsFailure([{ index: 1, code: 121, errmsg: 'Document failed validation' }]),
    ]);
    await f.store.apply([upd('a'), upd('b'), upd('c')]);
    expect(f.bulkCalls).toEqual([['a', 'b', 'c']]);
    expect(f.tracking).toEqual([{ runId: 'b', upsert: true }]);
    expect(f.logs.lines.find((l) => l.msg === 'run_store_update_rejected')).toMatchObject({
      run_id: 'b',
      reason: expect.stringContaining('code 121'),
    });
  });

  it.each([10107, 11602, 189, 91, 11600, 13435, 13436, 6, 89, 9001, 13388, 262, 50, 24, 112])(
    'a transient write error (code %i) makes apply throw (the batch is retried) and loses nothing',
    async (code) => {
      const f = fakeStore([() => writeErrorsFailure([{ index: 0, code, errmsg: 'not now' }]), ok]);
      await expect(f.store.apply([upd('a'), upd('b')])).rejects.toBeInstanceOf(MongoBulkWriteError);
      expect(f.tracking).toEqual([]);
      await f.store.apply([upd('a'), upd('b')]); // the retry
      expect(f.tracking).toEqual([]);
      expect(f.logs.events()).not.toContain('run_store_update_rejected');
    },
  );

  it('a reply with a permanent write error and a write-concern error: records the poison one, then throws to retry', async () => {
    const f = fakeStore([
      () => writeConcernFailure([{ index: 0, code: 10334, errmsg: 'BSONObj size is invalid' }]),
      // The retry: the poison one is refused again, the write concern is met this time.
      () => writeErrorsFailure([{ index: 0, code: 10334, errmsg: 'BSONObj size is invalid' }]),
    ]);
    await expect(f.store.apply([upd('poison'), upd('fine')])).rejects.toBeInstanceOf(MongoBulkWriteError);
    expect(f.tracking).toEqual([{ runId: 'poison', upsert: true }]);
    await f.store.apply([upd('poison'), upd('fine')]);
    expect(f.tracking.map((t) => t.runId)).toEqual(['poison', 'poison']); // idempotent: same seq
  });

  it('a duplicate key is retried once in the same call; a second one is permanent', async () => {
    const race = fakeStore([
      () => writeErrorsFailure([{ index: 1, code: 11000, errmsg: 'E11000 dup key' }]),
      ok,
    ]);
    await race.store.apply([upd('a'), upd('b')]);
    expect(race.bulkCalls).toEqual([['a', 'b'], ['b']]);
    expect(race.tracking).toEqual([]);

    const twice = fakeStore([
      () => writeErrorsFailure([{ index: 1, code: 11000, errmsg: 'E11000 dup key' }]),
      () => writeErrorsFailure([{ index: 0, code: 11000, errmsg: 'E11000 dup key { other_unique: 1 }' }]),
    ]);
    await twice.store.apply([upd('a'), upd('b')]);
    expect(twice.bulkCalls).toEqual([['a', 'b'], ['b']]);
    expect(twice.tracking).toEqual([{ runId: 'b', upsert: true }]);
  });

  it('an unknown code is retried, and after unknownErrorAttempts refusals of the same run it is recorded and skipped', async () => {
    const unknown = () => writeErrorsFailure([{ index: 0, code: 987654, errmsg: 'something new' }]);
    const f = fakeStore([unknown, unknown, unknown], { unknownErrorAttempts: 3 });
    await expect(f.store.apply([upd('odd'), upd('b')])).rejects.toBeInstanceOf(MongoBulkWriteError);
    await expect(f.store.apply([upd('odd'), upd('b')])).rejects.toBeInstanceOf(MongoBulkWriteError);
    expect(f.tracking).toEqual([]);
    await f.store.apply([upd('odd'), upd('b')]); // third refusal: treated as permanent
    expect(f.tracking).toEqual([{ runId: 'odd', upsert: true }]);
    expect(f.logs.lines.find((l) => l.msg === 'run_store_update_rejected')?.reason).toContain(
      'refused 3 times in a row',
    );
    // A success in between starts the count again.
    const g = fakeStore([unknown, unknown, ok, unknown, unknown], { unknownErrorAttempts: 3 });
    for (let i = 0; i < 5; i++) await g.store.apply([upd('odd')]).catch(() => undefined);
    expect(g.tracking).toEqual([]);
  });

  it('a command refused as a whole with a permanent code is written op by op to isolate the one at fault', async () => {
    const depth = () => wholeFailure(serverError(15, 'Document exceeds maximum nesting depth of 100'));
    const f = fakeStore([depth, ok, depth, ok]);
    await f.store.apply([upd('a'), upd('deep'), upd('c')]);
    expect(f.bulkCalls).toEqual([['a', 'deep', 'c'], ['a'], ['deep'], ['c']]);
    expect(f.tracking).toEqual([{ runId: 'deep', upsert: true }]);
  });

  it('a command refused as a whole by something transient (network, election) throws without isolating', async () => {
    const f = fakeStore([
      () => wholeFailure(new MongoNetworkError('connection reset')),
      () => wholeFailure(serverError(10107, 'not primary')),
    ]);
    await expect(f.store.apply([upd('a'), upd('b')])).rejects.toBeInstanceOf(MongoBulkWriteError);
    await expect(f.store.apply([upd('a'), upd('b')])).rejects.toBeInstanceOf(MongoBulkWriteError);
    expect(f.bulkCalls).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(f.tracking).toEqual([]);
  });

  it('a refused marks-only update keeps its upsert flag: its tracking error never creates a run', async () => {
    const marksOnly: RunUpdate = { ...upd('gone', {}), seq: '', marks: { stuck: true } };
    const f = fakeStore([
      () =>
        writeErrorsFailure([
          { index: 0, code: 2, errmsg: 'bad' },
          { index: 1, code: 2, errmsg: 'bad' },
        ]),
    ]);
    await f.store.apply([marksOnly, upd('real')]);
    expect(f.tracking).toEqual([
      { runId: 'gone', upsert: false },
      { runId: 'real', upsert: true },
    ]);
  });

  it('a tracking error that fails transiently makes apply throw (retried), a refused one is logged and skipped', async () => {
    const poison = () => writeErrorsFailure([{ index: 0, code: 121, errmsg: 'Document failed validation' }]);
    const f = fakeStore([poison, poison]);
    f.failTrackingWith(new MongoNetworkError('reset'));
    await expect(f.store.apply([upd('p')])).rejects.toBeInstanceOf(MongoNetworkError);
    f.failTrackingWith(serverError(121, 'Document failed validation'));
    await f.store.apply([upd('p')]);
    expect(f.logs.events()).toContain('run_store_tracking_error_not_recorded');
  });

  it('splits a round into bulk writes the driver sends as one command each', () => {
    const { ops } = buildOps(Array.from({ length: 2500 }, (_, i) => upd(`r${i}`)));
    expect(chunkOps(ops).map((c) => c.length)).toEqual([MAX_BULK_OPS, MAX_BULK_OPS, 500]);
    const big = buildOps(
      Array.from({ length: 5 }, (_, i) => upd(`b${i}`, { result: 'x'.repeat(3 * 1024 * 1024) })),
    );
    const chunks = chunkOps(big.ops);
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 1]);
    for (const c of chunks)
      expect(c.reduce((n, o: BuiltOp) => n + o.bytes, 0)).toBeLessThanOrEqual(MAX_BULK_BYTES);
  });
});

describe('MongoRunStore.init with what listIndexes / createIndex / collMod answer', () => {
  function fakeIndexes(
    existing: Document[],
    opts: { docs?: boolean; failCreate?: (key: Document) => Error | undefined; collModError?: Error } = {},
  ) {
    const calls: string[] = [];
    const created: { key: Document; options: Document }[] = [];
    const collection = {
      collectionName: 'job_runs',
      async indexes() {
        return existing;
      },
      async findOne() {
        return opts.docs ? { _id: 1 } : null;
      },
      async createIndex(key: Document, options: Document) {
        calls.push(`create ${options.name}`);
        const err = opts.failCreate?.(key);
        if (err) throw err;
        created.push({ key, options });
        return options.name;
      },
      async createIndexes() {
        throw new Error('init must build one index per call');
      },
      async dropIndex(name: string) {
        calls.push(`drop ${name}`);
      },
    };
    const commands: Document[] = [];
    const db = {
      databaseName: 'jm',
      collection: () => collection,
      async command(cmd: Document) {
        commands.push(cmd);
        if (opts.collModError) throw opts.collModError;
        return { ok: 1 };
      },
    } as unknown as Db;
    const logs = memoryLogger();
    return {
      db,
      calls,
      created,
      commands,
      logs,
      store: (o: { retentionSeconds?: number } = {}) => new MongoRunStore(db, { logger: logs.logger, ...o }),
    };
  }
  const seed = (ttl: number) => [
    { name: '_id_', key: { _id: 1 } },
    { name: 'job_id_1_started_at_-1', key: { job_id: 1, started_at: -1 } },
    { name: 'status_1', key: { status: 1 } },
    { name: 'started_at_-1', key: { started_at: -1 }, expireAfterSeconds: ttl },
  ];

  it('builds the missing indexes one per call; duplicate run_ids stop start-up with a message saying how to find them', async () => {
    const f = fakeIndexes(seed(RUN_RETENTION_SECONDS), {
      failCreate: (key) =>
        key.run_id === 1 && Object.keys(key).length === 1
          ? serverError(
              11000,
              'E11000 duplicate key error collection: jm.job_runs index: run_id_unique dup key: { run_id: "r1" }',
            )
          : undefined,
    });
    const err = await f
      .store()
      .init()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicateRunIdsError);
    const message = (err as Error).message;
    expect(message).toContain('jm.job_runs');
    expect(message).toContain(JSON.stringify(DUPLICATE_RUN_IDS_PIPELINE));
    expect(message).toContain('dup key: { run_id: "r1" }');
    // Every other missing index was still built, each in its own call.
    const wanted = indexSpecs(RUN_RETENTION_SECONDS).filter(
      (s) => !['job_id_started_at', 'status', 'started_at_ttl'].includes(s.name),
    );
    expect(f.calls).toEqual(wanted.map((s) => `create ${s.name}`));
    expect(f.created).toHaveLength(wanted.length - 1);
  });

  it('without the collMod privilege (Unauthorized) logs the TTL difference and starts anyway', async () => {
    const f = fakeIndexes(seed(86_400), {
      collModError: serverError(13, 'not authorized on jm to execute command { collMod: ... }'),
    });
    const plan = await f.store().ensureIndexes();
    expect(f.commands).toEqual([
      {
        collMod: 'job_runs',
        index: { keyPattern: { started_at: -1 }, expireAfterSeconds: RUN_RETENTION_SECONDS },
      },
    ]);
    expect(plan.collMod).toEqual([]);
    expect(f.logs.lines.find((l) => l.msg === 'run_store_index_ttl_not_changed')).toMatchObject({
      index: 'started_at_-1',
      ttl_seconds: 86_400,
      wanted_ttl_seconds: RUN_RETENTION_SECONDS,
      level: 40,
    });
    expect(f.created.length).toBeGreaterThan(5);
    // Any other collMod failure still stops start-up.
    const g = fakeIndexes(seed(86_400), { collModError: serverError(2, 'bad') });
    await expect(g.store().init()).rejects.toThrow('bad');
  });

  it("keeps a team's longer TTL unless RUN_RETENTION_DAYS asks, and adds no TTL to runs that expire none", async () => {
    const thirty = 30 * 86_400;
    const kept = fakeIndexes(seed(thirty));
    await kept.store().init();
    expect(kept.commands).toEqual([]); // no collMod shortening it
    expect(kept.created.find((c) => c.options.name === 'created_at_ttl')?.options.expireAfterSeconds).toBe(
      thirty,
    );
    expect(kept.logs.lines.find((l) => l.msg === 'run_store_retention_kept')).toMatchObject({
      existing_ttl_seconds: thirty,
    });

    const asked = fakeIndexes(seed(thirty));
    await asked.store({ retentionSeconds: RUN_RETENTION_SECONDS }).init();
    expect(asked.commands).toEqual([
      {
        collMod: 'job_runs',
        index: { keyPattern: { started_at: -1 }, expireAfterSeconds: RUN_RETENTION_SECONDS },
      },
    ]);
    expect(asked.created.find((c) => c.options.name === 'created_at_ttl')?.options.expireAfterSeconds).toBe(
      RUN_RETENTION_SECONDS,
    );

    const forever = fakeIndexes(
      seed(thirty).filter((i) => i.name !== 'started_at_-1'),
      { docs: true },
    );
    await forever.store().init();
    expect(forever.created.filter((c) => c.options.expireAfterSeconds !== undefined)).toEqual([]);
    expect(forever.logs.lines.find((l) => l.msg === 'run_store_retention_kept')).toMatchObject({
      existing_ttl_seconds: null,
    });
    const fresh = fakeIndexes([]);
    await fresh.store().init();
    expect(fresh.created.filter((c) => c.options.expireAfterSeconds === RUN_RETENTION_SECONDS)).toHaveLength(
      2,
    );
  });

  it('a rebuild builds the replacement before dropping the old index, and drops nothing when the build fails', async () => {
    const withOld = [
      ...seed(RUN_RETENTION_SECONDS),
      { name: 'run_id_1', key: { run_id: 1 } },
      { name: 'user_id_1_job_id_1', key: { user_id: 1, job_id: 1 }, sparse: true },
    ];
    const f = fakeIndexes(withOld);
    const plan = await f.store().ensureIndexes({ rebuild: true });
    expect(plan.differ.map((d) => d.have.name)).toEqual(['run_id_1', 'user_id_1_job_id_1']);
    const order = f.calls.filter((c) => /run_id_unique|run_id_1$|user_id_job_id|user_id_1_job_id_1/.test(c));
    expect(order).toEqual([
      'create run_id_unique',
      'drop run_id_1',
      'create user_id_job_id',
      'drop user_id_1_job_id_1',
    ]);
    // The replacement is on the reversed keys (MongoDB refuses two indexes on the same keys).
    expect(f.created.find((c) => c.options.name === 'run_id_unique')).toEqual({
      key: { run_id: -1 },
      options: { name: 'run_id_unique', unique: true },
    });

    const dup = fakeIndexes(withOld, {
      failCreate: (key) => (key.run_id === -1 ? serverError(11000, 'E11000 duplicate key error') : undefined),
    });
    await expect(dup.store().ensureIndexes({ rebuild: true })).rejects.toBeInstanceOf(DuplicateRunIdsError);
    expect(dup.calls).not.toContain('drop run_id_1');
    expect(dup.calls).toContain('drop user_id_1_job_id_1'); // its replacement was built
  });
});
