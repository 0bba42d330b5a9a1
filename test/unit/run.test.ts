import fc from 'fast-check';
import {
  applyRunUpdate,
  type JobRun,
  MAX_RUN_LOGS,
  mergeUpdates,
  prepareUpdate,
  RUN_TRUNCATED_MARKER,
  type RunUpdate,
  seqFromEventId,
} from '../../src/monitor/run';
import { decodeCursor, encodeCursor, pageSize } from '../../src/monitor/run-store';

const identity = {
  job_id: 'cache_warming',
  queue: 'maintenance',
  created_at: '2026-01-01T00:00:00.000Z',
  trigger: 'manual' as const,
  user_id: null,
};
const upd = (seq: string, patch: RunUpdate['patch'], logs: string[] = []): RunUpdate => ({
  run_id: 'r1',
  seq,
  identity,
  patch,
  logs: logs.map((message) => ({ time: '2026-01-01T00:00:00.000Z', level: 'info', message, seq })),
});

describe('applyRunUpdate', () => {
  it('creates the run from its identity and applies the patch', () => {
    const run = applyRunUpdate(null, upd('a', { status: 'running', progress: 10 }, ['hello']));
    expect(run).toMatchObject({
      run_id: 'r1',
      job_id: 'cache_warming',
      status: 'running',
      progress: 10,
      seq: 'a',
    });
    expect(run.logs.map((l) => l.message)).toEqual(['hello']);
  });

  it('ignores repeated and older updates (duplicate events from two trackers)', () => {
    let run = applyRunUpdate(null, upd('b', { status: 'completed', progress: 100 }, ['done']));
    run = applyRunUpdate(run, upd('a', { status: 'running', progress: 5 }, ['late']));
    run = applyRunUpdate(run, upd('b', { status: 'completed', progress: 100 }, ['done']));
    expect(run.status).toBe('completed');
    expect(run.progress).toBe(100);
    expect(run.logs.map((l) => l.message)).toEqual(['done']);
  });

  it(`keeps only the last ${MAX_RUN_LOGS} log lines`, () => {
    let run: JobRun | null = null;
    for (let i = 1; i <= 7; i++) {
      const seq = `s${String(i).padStart(2, '0')}`;
      run = applyRunUpdate(
        run,
        upd(
          seq,
          {},
          Array.from({ length: 10 }, (_, j) => `line ${(i - 1) * 10 + j + 1}`),
        ),
      );
    }
    expect(run?.logs).toHaveLength(MAX_RUN_LOGS);
    expect(run?.logs[0].message).toBe('line 21');
    expect(run?.logs.at(-1)?.message).toBe('line 70');
  });

  it('merging consecutive updates equals applying them one by one, in any order of arrival', () => {
    const seqArb = fc.integer({ min: 1, max: 40 }).map((n) => `s${String(n).padStart(3, '0')}`);
    const updArb = fc.record({
      seq: seqArb,
      progress: fc.integer({ min: 0, max: 100 }),
      lines: fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(updArb, { selector: (u) => u.seq, minLength: 1, maxLength: 12 }), (list) => {
        const sorted = [...list].sort((a, b) => (a.seq < b.seq ? -1 : 1));
        const updates = sorted.map((u) => upd(u.seq, { progress: u.progress }, u.lines));
        const oneByOne = updates.reduce<JobRun | null>((run, u) => applyRunUpdate(run, u), null);
        const merged = applyRunUpdate(null, updates.reduce(mergeUpdates));
        expect(merged).toEqual(oneByOne);
      }),
    );
  });
});

describe('mergeUpdates: the exact guarantee', () => {
  const seqArb = fc.integer({ min: 1, max: 30 }).map((n) => `s${String(n).padStart(3, '0')}`);
  const stored = (seq: string): JobRun =>
    applyRunUpdate(null, upd(seq, { status: 'completed', progress: 100, worker: 'w0' }));

  it('equals applying a then b unless the stored seq is in [a.seq, b.seq)', () => {
    fc.assert(
      fc.property(seqArb, seqArb, seqArb, (x, y, s) => {
        const [sa, sb] = x < y ? [x, y] : [y, x];
        fc.pre(sa !== sb && !(s >= sa && s < sb));
        const a = upd(sa, { status: 'running', worker: 'w1' }, ['a']);
        const b = upd(sb, { progress: 50 }, ['b']);
        const run = stored(s);
        expect(applyRunUpdate(run, mergeUpdates(a, b))).toEqual(applyRunUpdate(applyRunUpdate(run, a), b));
      }),
    );
  });

  it('differs when the stored seq falls between them: the merged update also writes the older patch', () => {
    const a = upd('s001', { status: 'running', worker: 'w1' });
    const b = upd('s003', { progress: 50 });
    const run = stored('s002'); // another tracker already stored a newer event than a
    const oneByOne = applyRunUpdate(applyRunUpdate(run, a), b);
    const merged = applyRunUpdate(run, mergeUpdates(a, b));
    expect(oneByOne).toMatchObject({ status: 'completed', worker: 'w0', progress: 50 });
    expect(merged).toMatchObject({ status: 'running', worker: 'w1', progress: 50 });
  });
});

describe('prepareUpdate (every store applies it before writing)', () => {
  it('caps result and error_message with the marker and fixes an unparsable created_at', () => {
    const u = {
      ...upd('s1', { result: { s: 'é'.repeat(50_000) }, error_message: 'x'.repeat(100_000) }),
      identity: { ...identity, created_at: 'nope' },
    };
    const p = prepareUpdate(u, 4096);
    expect(Buffer.byteLength(JSON.stringify(p.patch.result))).toBeLessThanOrEqual(4096);
    expect(p.patch.result).toMatchObject({ truncated: RUN_TRUNCATED_MARKER, original_bytes: 100_008 });
    expect(p.patch.error_message?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
    expect(Buffer.byteLength(p.patch.error_message ?? '')).toBeLessThanOrEqual(4096);
    expect(Number.isFinite(Date.parse(p.identity.created_at))).toBe(true);
    const small = upd('s1', { result: { ok: 1 }, error_message: 'short' });
    expect(prepareUpdate(small, 4096)).toBe(small);
  });
});

describe('seqFromEventId', () => {
  it('sorts stream ids numerically as strings', () => {
    const ids = ['1700000000000-10', '1700000000000-9', '999999999999-0', '1700000000001-0'];
    const sorted = [...ids].sort((a, b) => (seqFromEventId(a) < seqFromEventId(b) ? -1 : 1));
    expect(sorted).toEqual(['999999999999-0', '1700000000000-9', '1700000000000-10', '1700000000001-0']);
  });
});

describe('cursors and page sizes', () => {
  it('round-trips a cursor and rejects foreign ones', () => {
    const c = encodeCursor(1700000000123, 'm0123456789ab');
    expect(decodeCursor(c)).toEqual({ createdAtMs: 1700000000123, runId: 'm0123456789ab' });
    expect(decodeCursor('not-a-cursor')).toBeNull();
    expect(decodeCursor(Buffer.from('-5:x').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from('12:').toString('base64url'))).toBeNull();
  });

  it('caps the page size', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize(0)).toBe(50);
    expect(pageSize(10.7)).toBe(10);
    expect(pageSize(10_000)).toBe(200);
  });
});
