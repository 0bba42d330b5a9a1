import fc from 'fast-check';
import {
  applyRunUpdate,
  capResult,
  type JobRun,
  MAX_ATTEMPT_ERROR_BYTES,
  MAX_RESULT_DEPTH,
  MAX_RUN_LOGS,
  mergeUpdates,
  prepareUpdate,
  RUN_TRUNCATED_MARKER,
  type RunUpdate,
  seqFromEventId,
  trackingErrorUpdate,
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

describe('prepareUpdate: error_stack, the attempt record and nesting depth', () => {
  /** Nested `{ a: { a: … } }`, `levels` objects deep. */
  const nested = (levels: number): unknown => {
    let v: unknown = 'leaf';
    for (let i = 0; i < levels; i++) v = { a: v };
    return v;
  };
  const depthOf = (v: unknown): number =>
    v !== null && typeof v === 'object'
      ? 1 + Math.max(0, ...Object.values(v as object).map((c) => depthOf(c)))
      : 0;

  it('a 9 MiB error caps error_message, error_stack and the attempt error, so the update stays small', () => {
    const message = 'e'.repeat(9 * 1024 * 1024);
    const u: RunUpdate = {
      ...upd('s1', {
        status: 'failed',
        error_message: message,
        // A stack's first line repeats the message.
        error_stack: `Error: ${message}\n    at processor (job.ts:1:1)`,
      }),
      attempt: {
        attempt: 1,
        started_at: '2026-01-01T00:00:00.000Z',
        ended_at: '2026-01-01T00:00:01.000Z',
        worker: 'w1',
        outcome: 'failed',
        error: message,
      },
    };
    const p = prepareUpdate(u, 65536);
    expect(Buffer.byteLength(p.patch.error_message ?? '')).toBeLessThanOrEqual(65536);
    expect(Buffer.byteLength(p.patch.error_stack ?? '')).toBeLessThanOrEqual(65536);
    expect(p.patch.error_stack?.startsWith('Error: eee')).toBe(true);
    expect(p.patch.error_stack?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
    expect(Buffer.byteLength(p.attempt?.error ?? '')).toBeLessThanOrEqual(MAX_ATTEMPT_ERROR_BYTES);
    expect(p.attempt).toMatchObject({ attempt: 1, outcome: 'failed', worker: 'w1' });
    expect(p.attempt?.error?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
    // The whole update as a store would send it is far below MongoDB's 16 MiB (it was ~27 MiB).
    expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(200 * 1024);
    // The input is left as it was.
    expect(u.patch.error_stack?.length).toBeGreaterThan(9 * 1024 * 1024);
  });

  it('a short error, stack and attempt pass unchanged (same object)', () => {
    const u: RunUpdate = {
      ...upd('s1', { status: 'failed', error_message: 'no', error_stack: 'Error: no\n    at x' }),
      attempt: {
        attempt: 2,
        started_at: null,
        ended_at: null,
        worker: null,
        outcome: 'failed',
        error: 'no',
      },
    };
    expect(prepareUpdate(u, 4096)).toBe(u);
  });

  it('the tracking-error update drops result, error_message, error_stack and the attempt record', () => {
    const u: RunUpdate = {
      ...upd('s7', {
        status: 'failed',
        ended_at: '2026-01-01T00:00:02.000Z',
        result: 'r',
        error_message: 'm',
        error_stack: 's',
      }),
      attempt: {
        attempt: 1,
        started_at: null,
        ended_at: null,
        worker: 'w',
        outcome: 'failed',
        error: 'm',
      },
    };
    const t = trackingErrorUpdate(u, 'too large');
    expect(t.patch).toEqual({ status: 'failed', ended_at: '2026-01-01T00:00:02.000Z' });
    // Marks stay, but not a retried_by too long to be a run id (it would make the tracking error poison too).
    const marked = { ...u, marks: { stuck: true, retried_by: 'r2' } };
    expect(trackingErrorUpdate(marked, 'x').marks).toEqual({ stuck: true, retried_by: 'r2' });
    const huge = { ...u, marks: { stuck: true, retried_by: 'r'.repeat(17 * 1024 * 1024) } };
    expect(trackingErrorUpdate(huge, 'x').marks).toEqual({ stuck: true });
    expect(t).not.toHaveProperty('attempt');
    expect(t.seq).toBe('s7');
    expect(t.logs).toEqual([
      expect.objectContaining({ level: 'error', seq: 's7', message: expect.stringContaining('too large') }),
    ]);
  });

  it(`a result nested deeper than ${MAX_RESULT_DEPTH} levels is stored as a preview; up to it, as it is`, () => {
    const ok = nested(MAX_RESULT_DEPTH);
    expect(capResult(ok, 65536)).toBe(ok);
    for (const levels of [MAX_RESULT_DEPTH + 1, 150, 250]) {
      const deep = nested(levels);
      const capped = capResult(deep, 65536) as { truncated: string; original_bytes: number; preview: string };
      expect(capped.truncated).toBe(RUN_TRUNCATED_MARKER);
      expect(depthOf(capped)).toBe(1);
      expect(capped.original_bytes).toBe(Buffer.byteLength(JSON.stringify(deep)));
      expect(capped.preview.startsWith('{"a":{"a":')).toBe(true);
    }
    // Too deep even for JSON.stringify: still stored truncated, never thrown.
    expect(capResult(nested(100_000), 65536)).toMatchObject({ truncated: RUN_TRUNCATED_MARKER });
    // Arrays count as levels too, and the depth check never recurses (a cycle ends it as well).
    expect(capResult(JSON.parse('['.repeat(40) + ']'.repeat(40)), 65536)).toMatchObject({
      truncated: RUN_TRUNCATED_MARKER,
    });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(capResult(cycle, 65536)).toMatchObject({ truncated: RUN_TRUNCATED_MARKER, original_bytes: null });
    // Through prepareUpdate, as every store applies it.
    const p = prepareUpdate(upd('s1', { result: nested(120) }), 65536);
    expect(depthOf(p.patch.result)).toBe(1);
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
    // A run created before 1970 has a negative time: its cursor must continue, not restart at page 1.
    expect(decodeCursor(encodeCursor(-86_400_000, 'old'))).toEqual({
      createdAtMs: -86_400_000,
      runId: 'old',
    });
    expect(decodeCursor(Buffer.from('-5.5:x').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from(':x').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from('12:').toString('base64url'))).toBeNull();
  });

  it('caps the page size', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize(0)).toBe(50);
    expect(pageSize(10.7)).toBe(10);
    expect(pageSize(10_000)).toBe(200);
  });
});
