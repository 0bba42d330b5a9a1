import {
  type AttemptRecord,
  DEFAULT_RUN_RESULT_MAX_BYTES,
  RUN_TRUNCATED_MARKER,
  type RunIdentity,
  type RunLog,
  type RunUpdate,
  marksUpdate,
  seqFromEventId,
} from '../../src/monitor/run';
import type { RunPage, RunStore } from '../../src/monitor/run-store';

/** Behaviour every RunStore must have. Called by one test file per store. */
export function runStoreContract(
  name: string,
  make: () => Promise<{ store: RunStore; cleanup: () => Promise<void> }>,
) {
  describe(`RunStore contract: ${name}`, () => {
    let store: RunStore;
    let cleanup: () => Promise<void>;
    let t0: number;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
      await store.init();
      t0 = Date.now() - 60_000;
    });
    afterEach(async () => {
      await cleanup();
    });

    const ident = (over: Partial<RunIdentity> = {}, at = 0): RunIdentity => ({
      job_id: 'job_a',
      queue: 'q',
      created_at: new Date(t0 + at).toISOString(),
      trigger: 'scheduled',
      user_id: null,
      ...over,
    });
    const seq = (n: number) => seqFromEventId(`${t0 + n}-0`);
    const upd = (
      run_id: string,
      n: number,
      patch: RunUpdate['patch'],
      extra: Partial<RunUpdate> = {},
    ): RunUpdate => ({
      run_id,
      seq: seq(n),
      identity: ident(),
      patch,
      logs: [],
      ...extra,
    });
    const log = (n: number, message: string): RunLog => ({
      time: new Date(t0 + n).toISOString(),
      level: 'info',
      message,
      seq: seq(n),
    });

    it('creates a run from its first update and returns it with every field', async () => {
      await store.apply([
        upd('r1', 1, { status: 'pending' }, { identity: ident({ user_id: 'u7', trigger: 'manual' }) }),
      ]);
      const run = await store.get('r1');
      expect(run).toMatchObject({
        run_id: 'r1',
        job_id: 'job_a',
        queue: 'q',
        status: 'pending',
        progress: 0,
        trigger: 'manual',
        user_id: 'u7',
        started_at: null,
        ended_at: null,
        error_message: null,
        logs: [],
      });
      expect(run?.created_at).toBe(new Date(t0).toISOString());
      expect(await store.get('missing')).toBeNull();
    });

    it('applies a run lifecycle in order and keeps the final state', async () => {
      const started = new Date(t0 + 2).toISOString();
      const ended = new Date(t0 + 5).toISOString();
      await store.apply([upd('r1', 1, { status: 'pending' })]);
      await store.apply([
        upd('r1', 2, { status: 'running', started_at: started, attempts: 1, worker: 'h:1' }),
      ]);
      await store.apply([upd('r1', 3, { progress: 50, processed_items: 5, total_items: 10 })]);
      await store.apply([
        upd('r1', 5, {
          status: 'completed',
          progress: 100,
          ended_at: ended,
          duration_ms: 3,
          result: { ok: [1, 2] },
        }),
      ]);
      expect(await store.get('r1')).toMatchObject({
        status: 'completed',
        progress: 100,
        processed_items: 5,
        total_items: 10,
        started_at: started,
        ended_at: ended,
        duration_ms: 3,
        attempts: 1,
        worker: 'h:1',
        result: { ok: [1, 2] },
      });
    });

    it('ignores replayed and out-of-date updates (two trackers, restarts)', async () => {
      const done = upd('r1', 5, { status: 'completed', progress: 100 }, { logs: [log(4, 'last line')] });
      await store.apply([upd('r1', 1, { status: 'pending' }), done]);
      // A second tracker replays older events and the same final one.
      await store.apply([upd('r1', 2, { status: 'running' }, { logs: [log(2, 'old line')] }), done]);
      const run = await store.get('r1');
      expect(run?.status).toBe('completed');
      expect(run?.logs.map((l) => l.message)).toEqual(['last line']);
    });

    it('never lets a late pending write (seq "") overwrite a run', async () => {
      await store.apply([upd('r1', 3, { status: 'running' })]);
      await store.apply([
        { run_id: 'r1', seq: '', identity: ident({ trigger: 'manual' }), patch: {}, logs: [] },
      ]);
      expect(await store.get('r1')).toMatchObject({ status: 'running', trigger: 'scheduled' });
    });

    it('keeps the patch of a new run written with seq "" (the enqueue-time record); a repeated "" changes nothing', async () => {
      await store.apply([{ run_id: 'r1', seq: '', identity: ident(), patch: { worker: 'w1' }, logs: [] }]);
      expect(await store.get('r1')).toMatchObject({ worker: 'w1', seq: '' });
      await store.apply([{ run_id: 'r1', seq: '', identity: ident(), patch: { worker: 'w2' }, logs: [] }]);
      expect((await store.get('r1'))?.worker).toBe('w1');
    });

    it('writes identity fields only at creation; later updates, stale or newer, never change them', async () => {
      await store.apply([upd('r1', 2, { status: 'running' })]);
      const other = ident({ job_id: 'job_other', queue: 'q2', trigger: 'manual', user_id: 'u5' }, 5000);
      await store.apply([upd('r1', 1, { progress: 10 }, { identity: other })]);
      await store.apply([upd('r1', 3, { progress: 20 }, { identity: other })]);
      expect(await store.get('r1')).toMatchObject({
        job_id: 'job_a',
        queue: 'q',
        trigger: 'scheduled',
        user_id: null,
        created_at: new Date(t0).toISOString(),
        progress: 20,
      });
      expect((await store.list({ user_id: 'u5' })).runs).toHaveLength(0);
      expect((await store.list({ job_id: 'job_other' })).runs).toHaveLength(0);
    });

    it('records an unparsable created_at as the time it was written (not 1970)', async () => {
      const before = Date.now();
      await store.apply([
        upd('r1', 1, { status: 'pending' }, { identity: ident({ created_at: 'garbage' }) }),
      ]);
      const run = await store.get('r1');
      const created = Date.parse(run?.created_at ?? '');
      expect(created).toBeGreaterThanOrEqual(before - 1000);
      expect(created).toBeLessThanOrEqual(Date.now() + 1000);
      expect((await store.list({ since: before - 1000 })).runs.map((r) => r.run_id)).toEqual(['r1']);
    });

    it('caps result and error_message at RUN_RESULT_MAX_BYTES with the marker; small ones are kept whole', async () => {
      const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, text: 'é'.repeat(20) })) };
      const bigBytes = Buffer.byteLength(JSON.stringify(big));
      expect(bigBytes).toBeGreaterThan(DEFAULT_RUN_RESULT_MAX_BYTES);
      const message = `boom ${'x'.repeat(200_000)}`;
      await store.apply([
        upd('r1', 1, { status: 'completed', result: big }),
        upd('r2', 1, { status: 'failed', error_message: message }),
        upd('r3', 1, { status: 'completed', result: { small: 'ok' }, error_message: 'short' }),
      ]);
      const r1 = await store.get('r1');
      expect(r1?.result).toMatchObject({ truncated: RUN_TRUNCATED_MARKER, original_bytes: bigBytes });
      const preview = (r1?.result as { preview: string } | undefined)?.preview ?? 'none';
      expect(JSON.stringify(big).startsWith(preview)).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(r1?.result))).toBeLessThanOrEqual(DEFAULT_RUN_RESULT_MAX_BYTES);
      const r2 = await store.get('r2');
      expect(r2?.error_message?.startsWith('boom xxx')).toBe(true);
      expect(r2?.error_message?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
      expect(Buffer.byteLength(r2?.error_message ?? '')).toBeLessThanOrEqual(DEFAULT_RUN_RESULT_MAX_BYTES);
      expect(await store.get('r3')).toMatchObject({ result: { small: 'ok' }, error_message: 'short' });
    });

    it('keeps only the last 50 log lines, in order, without duplicates', async () => {
      for (let i = 0; i < 7; i++) {
        const lines = Array.from({ length: 10 }, (_, j) => log(10 + i, `line ${i * 10 + j}`));
        await store.apply([upd('r1', 10 + i, {}, { logs: lines })]);
      }
      await store.apply([upd('r1', 12, {}, { logs: [log(12, 'replayed')] })]);
      const run = await store.get('r1');
      expect(run?.logs).toHaveLength(50);
      expect(run?.logs[0].message).toBe('line 20');
      expect(run?.logs[49].message).toBe('line 69');
      expect(run?.logs[0]).toEqual({ time: expect.any(String), level: 'info', message: 'line 20' });
    });

    it('lists newest first with filters and a stable cursor', async () => {
      const updates: RunUpdate[] = [];
      for (let i = 0; i < 25; i++) {
        updates.push({
          run_id: `r${String(i).padStart(2, '0')}`,
          seq: seq(i),
          identity: ident(
            {
              job_id: i % 2 ? 'job_odd' : 'job_even',
              user_id: i % 5 === 0 ? 'u1' : null,
              trigger: i % 3 ? 'scheduled' : 'manual',
            },
            // three runs share each creation time: ties must page stably
            Math.floor(i / 3) * 1000,
          ),
          patch: { status: i % 4 === 0 ? 'failed' : 'completed' },
          logs: [],
        });
      }
      await store.apply(updates);

      const all: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.list({ limit: 4, cursor });
        all.push(...page.runs.map((r) => r.run_id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < 20);
      expect(all).toHaveLength(25);
      expect(new Set(all).size).toBe(25);
      const created = await Promise.all(all.map(async (id) => Date.parse((await store.get(id))!.created_at)));
      expect([...created].sort((a, b) => b - a)).toEqual(created);
      expect(pages).toBe(7);

      const failed = await store.list({ status: ['failed'] });
      expect(failed.runs.map((r) => r.run_id).sort()).toEqual([
        'r00',
        'r04',
        'r08',
        'r12',
        'r16',
        'r20',
        'r24',
      ]);
      expect(failed.runs.every((r) => r.logs.length === 0)).toBe(true);

      const oddFailed = await store.list({ job_id: 'job_odd', status: ['failed'] });
      expect(oddFailed.runs).toHaveLength(0);
      const evenFailed = await store.list({
        job_id: 'job_even',
        status: ['failed', 'completed'],
        limit: 200,
      });
      expect(evenFailed.runs).toHaveLength(13);

      const user = await store.list({ user_id: 'u1' });
      expect(user.runs.map((r) => r.run_id).sort()).toEqual(['r00', 'r05', 'r10', 'r15', 'r20']);
      const manualEven = await store.list({ trigger: 'manual', job_id: 'job_even' });
      expect(manualEven.runs.map((r) => r.run_id).sort()).toEqual(['r00', 'r06', 'r12', 'r18', 'r24']);

      const since = await store.list({ since: t0 + 7000 });
      expect(since.runs.map((r) => r.run_id).sort()).toEqual(['r21', 'r22', 'r23', 'r24']);
    });

    it('moves a run between status filters as it changes', async () => {
      await store.apply([upd('r1', 1, { status: 'pending' })]);
      expect((await store.list({ status: ['pending', 'running'] })).runs).toHaveLength(1);
      await store.apply([upd('r1', 2, { status: 'running' })]);
      expect((await store.list({ status: ['pending'] })).runs).toHaveLength(0);
      expect((await store.list({ status: ['pending', 'running'] })).runs).toHaveLength(1);
      await store.apply([upd('r1', 3, { status: 'failed', error_message: 'boom' })]);
      expect((await store.list({ status: ['pending', 'running'] })).runs).toHaveLength(0);
      expect((await store.list({ job_id: 'job_a', status: ['failed'] })).runs[0]).toMatchObject({
        run_id: 'r1',
        error_message: 'boom',
      });
    });

    it('applies a large batch (hundreds of runs, several updates each) like one update at a time', async () => {
      // Trackers write whole micro-batches at once; stores may split them internally (the Redis store
      // sends 200 updates per Lua call), so the same run's updates straddle those splits here.
      const batch: RunUpdate[] = [];
      for (let i = 0; i < 450; i++) {
        const identity = ident({ user_id: i % 2 ? 'u1' : null }, i);
        batch.push(upd(`b${i}`, 1, { status: 'pending' }, { identity }));
      }
      for (let i = 0; i < 450; i++) {
        const identity = ident({}, i);
        const status = i % 3 === 0 ? 'failed' : 'completed';
        batch.push(upd(`b${i}`, 3, { status, attempts: 1 }, { identity, logs: [log(3, `done ${i}`)] }));
        if (i % 5 === 0) batch.push(upd(`b${i}`, 2, { status: 'running' }, { identity }));
      }
      await store.apply(batch);
      expect(await store.get('b7')).toMatchObject({ status: 'completed', attempts: 1, user_id: 'u1' });
      expect((await store.get('b300'))?.logs.map((l) => l.message)).toEqual(['done 300']);
      expect((await store.get('b300'))?.status).toBe('failed');
      const failed = await store.list({ status: ['failed'], limit: 200 });
      expect(failed.runs).toHaveLength(150);
      expect(failed.runs[0].run_id).toBe('b447');
      expect((await store.list({ status: ['pending', 'running'] })).runs).toHaveLength(0);
      expect((await store.list({ user_id: 'u1', limit: 200 })).runs).toHaveLength(200);
    });

    it('lists only runs created before a time, combined with status and the cursor', async () => {
      const updates: RunUpdate[] = [];
      for (let i = 0; i < 12; i++) {
        updates.push({
          ...upd(`b${String(i).padStart(2, '0')}`, i, { status: i % 3 === 0 ? 'completed' : 'running' }),
          identity: ident({}, i * 1000),
        });
      }
      await store.apply(updates);
      // Created at t0+0s … t0+11s; before t0+8s excludes 8..11, running excludes 0, 3, 6.
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const page: RunPage = await store.list({ status: ['running'], before: t0 + 8000, limit: 2, cursor });
        seen.push(...page.runs.map((r) => r.run_id));
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      expect(seen).toEqual(['b07', 'b05', 'b04', 'b02', 'b01']);
      const all = await store.list({ before: t0 + 3000 });
      expect(all.runs.map((r) => r.run_id)).toEqual(['b02', 'b01', 'b00']);
    });

    it('counts active runs per job and forgets runs once they finish', async () => {
      await store.apply([
        upd('c1', 1, { status: 'pending' }),
        upd('c2', 1, { status: 'running' }, { identity: ident({ job_id: 'job_b' }) }),
        upd('c3', 1, { status: 'running' }, { identity: ident({ job_id: 'job_b' }) }),
        upd('c4', 1, { status: 'completed' }, { identity: ident({ job_id: 'job_c' }) }),
      ]);
      expect(await store.countActive()).toEqual({ job_a: 1, job_b: 2 });
      await store.apply([upd('c2', 2, { status: 'failed' }, { identity: ident({ job_id: 'job_b' }) })]);
      await store.apply([upd('c1', 2, { status: 'completed' })]);
      expect(await store.countActive()).toEqual({ job_b: 1 });
    });

    it('stats: counts by status in the window and the newest finished runs, bounded by sample', async () => {
      const updates: RunUpdate[] = [];
      const statuses = ['completed', 'completed', 'failed', 'skipped', 'running', 'pending'] as const;
      for (let i = 0; i < 12; i++) {
        updates.push({
          run_id: `s${String(i).padStart(2, '0')}`,
          seq: seq(100 + i),
          identity: ident({ job_id: i === 11 ? 'job_b' : 'job_a' }, i * 1000),
          patch: {
            status: statuses[i % 6],
            duration_ms: statuses[i % 6] === 'running' ? null : (i + 1) * 10,
          },
          logs: [],
        });
      }
      await store.apply(updates);
      const all = await store.stats('job_a', t0);
      expect(all.counts).toEqual({
        completed: 4,
        failed: 2,
        skipped: 2,
        running: 2,
        pending: 1,
        cancelled: 0,
      });
      expect(all.finished.map((r) => r.run_id)).toEqual([
        's09',
        's08',
        's07',
        's06',
        's03',
        's02',
        's01',
        's00',
      ]);
      expect(all.finished[0]).toEqual({
        run_id: 's09',
        status: 'skipped',
        created_at: new Date(t0 + 9000).toISOString(),
        duration_ms: 100,
      });
      const recent = await store.stats('job_a', t0 + 6000, 3);
      expect(recent.counts).toEqual({
        completed: 2,
        failed: 1,
        skipped: 1,
        running: 1,
        pending: 0,
        cancelled: 0,
      });
      expect(recent.finished.map((r) => r.run_id)).toEqual(['s09', 's08', 's07']);
      const none = await store.stats('job_c', t0);
      expect(none).toEqual({
        counts: { pending: 0, running: 0, completed: 0, failed: 0, skipped: 0, cancelled: 0 },
        finished: [],
      });
    });

    it('marks: applied whatever the seq, never create a run, ignored on finished runs, cleared when the run ends', async () => {
      const since = new Date(t0 + 9).toISOString();
      const run = { run_id: 'm1', ...ident() };
      await store.apply([
        marksUpdate(run, { stuck: true, stuck_reason: 'not_picked_up', stuck_since: since }),
      ]);
      expect(await store.get('m1')).toBeNull();
      expect((await store.list({ stuck: true })).runs).toHaveLength(0);

      await store.apply([upd('m1', 5, { status: 'running' })]);
      await store.apply([
        marksUpdate(run, { stuck: true, stuck_reason: 'running_too_long', stuck_since: since }),
      ]);
      expect(await store.get('m1')).toMatchObject({
        status: 'running',
        stuck: true,
        stuck_reason: 'running_too_long',
        stuck_since: since,
        seq: seq(5),
      });
      expect((await store.list({ stuck: true })).runs.map((r) => r.run_id)).toEqual(['m1']);
      expect((await store.list({ stuck: false })).runs).toHaveLength(0);
      await store.apply([marksUpdate(run, { retried_by: 'm9' })]);
      expect((await store.get('m1'))?.retried_by).toBe('m9');

      // The run ends: stuck fields are cleared, and later stuck marks are ignored; retried_by still applies.
      await store.apply([upd('m1', 6, { status: 'failed' })]);
      expect(await store.get('m1')).toMatchObject({ stuck: false, stuck_reason: null, stuck_since: null });
      await store.apply([marksUpdate(run, { stuck: true, stuck_reason: 'no_workers', stuck_since: since })]);
      await store.apply([marksUpdate(run, { retried_by: 'm10' })]);
      expect(await store.get('m1')).toMatchObject({ stuck: false, stuck_reason: null, retried_by: 'm10' });
      expect((await store.list({ stuck: true })).runs).toHaveLength(0);
      expect((await store.list({ stuck: false })).runs.map((r) => r.run_id)).toEqual(['m1']);
    });

    it('marks: clearing stuck on an active run takes it out of the stuck filter', async () => {
      const run = { run_id: 'm2', ...ident() };
      await store.apply([upd('m2', 1, { status: 'pending' }), upd('m3', 1, { status: 'pending' })]);
      await store.apply([marksUpdate(run, { stuck: true, stuck_reason: 'no_workers', stuck_since: null })]);
      expect((await store.list({ stuck: true, status: ['pending'] })).runs.map((r) => r.run_id)).toEqual([
        'm2',
      ]);
      expect((await store.list({ stuck: false, job_id: 'job_a' })).runs.map((r) => r.run_id)).toEqual(['m3']);
      await store.apply([marksUpdate(run, { stuck: false, stuck_reason: null, stuck_since: null })]);
      expect((await store.list({ stuck: true })).runs).toHaveLength(0);
      expect(await store.get('m2')).toMatchObject({ stuck: false, stuck_reason: null });
    });

    it('attempts: upserted by number, in order, the last 25; replaced only by a newer seq, added by any', async () => {
      const at = (n: number, outcome: 'failed' | 'completed', error: string | null = null) => ({
        attempt: n,
        started_at: new Date(t0 + n * 10).toISOString(),
        ended_at:
          outcome === 'failed' || outcome === 'completed' ? new Date(t0 + n * 10 + 5).toISOString() : null,
        worker: `w:${n}`,
        outcome,
        error,
      });
      await store.apply([upd('a1', 2, { status: 'running' }, { attempt: at(2, 'failed', 'boom') })]);
      await store.apply([upd('a1', 3, {}, { attempt: at(1, 'failed', 'first') })]);
      await store.apply([upd('a1', 4, {}, { attempt: at(2, 'completed') })]);
      // An older update: it never replaces a record (attempt 2 stays), but adds an attempt the run lacks (a
      // stall the reconciler read after the next worker's start was stored), and changes nothing else.
      await store.apply([upd('a1', 1, { status: 'failed' }, { attempt: at(2, 'failed', 'stale') })]);
      await store.apply([upd('a1', 1, {}, { attempt: at(7, 'failed', 'stale') })]);
      expect((await store.get('a1'))?.attempts_log).toEqual([
        at(1, 'failed', 'first'),
        at(2, 'completed'),
        at(7, 'failed', 'stale'),
      ]);
      expect((await store.get('a1'))?.status).toBe('running');
      for (let n = 3; n <= 30; n++)
        await store.apply([upd('a1', 10 + n, {}, { attempt: at(n, 'failed', `e${n}`) })]);
      const log = (await store.get('a1'))?.attempts_log ?? [];
      expect(log.map((a) => a.attempt)).toEqual(Array.from({ length: 25 }, (_, i) => i + 6));
      expect(log[24]).toEqual(at(30, 'failed', 'e30'));
    });

    it('attempts: a run done on its first attempt reads back that attempt exactly (and a later one beside it)', async () => {
      const started = new Date(t0 + 10).toISOString();
      const ended = new Date(t0 + 25).toISOString();
      const first = {
        attempt: 1,
        started_at: started,
        ended_at: ended,
        worker: 'w:1',
        outcome: 'completed' as const,
        error: null,
      };
      // Ended by its first attempt: the run's own fields, and the attempt record it was written with.
      const doneWith = async (runId: string, status: 'completed' | 'skipped', attempt: AttemptRecord) => {
        const patch = { status, started_at: started, ended_at: ended, worker: 'w:1', attempts: 1 };
        await store.apply([upd(runId, 1, patch, { attempt })]);
        return (await store.get(runId))?.attempts_log;
      };
      expect(await doneWith('one1', 'completed', first)).toEqual([first]);
      // The same record on a run whose own fields say otherwise is kept as it was written.
      const other = { ...first, worker: 'w:9' };
      expect(await doneWith('one2', 'completed', other)).toEqual([other]);
      const skipped = { ...first, outcome: 'skipped' as const };
      expect(await doneWith('one3', 'skipped', skipped)).toEqual([skipped]);
      // Older than what the run has (given up on as failed meanwhile): its attempt is added as it was, not
      // read from the failed run's fields.
      const failedAt = new Date(t0 + 90).toISOString();
      await store.apply([
        upd('one4', 5, {
          status: 'failed',
          started_at: started,
          ended_at: failedAt,
          worker: null,
          attempts: 1,
        }),
      ]);
      expect(await doneWith('one4', 'completed', first)).toEqual([first]);
      expect((await store.get('one4'))?.status).toBe('failed');
      // Newer than it (given up on as failed afterwards): the attempt stays as it ended.
      expect(await doneWith('one5', 'completed', first)).toEqual([first]);
      await store.apply([upd('one5', 5, { status: 'failed', ended_at: failedAt, worker: null })]);
      expect((await store.get('one5'))?.attempts_log).toEqual([first]);
      expect((await store.get('one5'))?.status).toBe('failed');
    });

    it("attempts: a later attempt's start records the earlier one as stalled when its worker never wrote an end", async () => {
      const start1 = new Date(t0 + 10).toISOString();
      const start2 = new Date(t0 + 900).toISOString();
      await store.apply([
        upd('s1', 1, { status: 'running', attempts: 1, started_at: start1, worker: 'host-a:1' }),
      ]);
      // The worker died; BullMQ handed the job to another worker, whose start arrives before the stall event.
      await store.apply([
        upd('s1', 3, { status: 'running', attempts: 2, started_at: start2, worker: 'host-b:2' }),
      ]);
      const stalled = {
        attempt: 1,
        started_at: start1,
        ended_at: start2,
        worker: 'host-a:1',
        outcome: 'stalled',
        error: null,
      };
      expect((await store.get('s1'))?.attempts_log).toEqual([stalled]);
      // The stall the reconciler reads later (its hash already shows attempt 2) adds nothing over it.
      await store.apply([
        upd(
          's1',
          2,
          {},
          {
            attempt: {
              attempt: 1,
              started_at: null,
              ended_at: start2,
              worker: null,
              outcome: 'stalled',
              error: null,
            },
          },
        ),
      ]);
      expect((await store.get('s1'))?.attempts_log).toEqual([stalled]);
      // An attempt that did write its end (a failure with retries left) is not taken for stalled.
      await store.apply([
        upd('s2', 1, { status: 'running', attempts: 1, started_at: start1, worker: 'host-a:1' }),
        upd(
          's2',
          2,
          { status: 'pending', attempts: 1, error_message: 'boom' },
          {
            attempt: {
              attempt: 1,
              started_at: start1,
              ended_at: start1,
              worker: 'host-a:1',
              outcome: 'failed',
              error: 'boom',
            },
          },
        ),
      ]);
      await store.apply([
        upd('s2', 3, { status: 'running', attempts: 2, started_at: start2, worker: 'host-b:2' }),
      ]);
      expect((await store.get('s2'))?.attempts_log.map((a) => a.outcome)).toEqual(['failed']);
    });

    it('stores error_stack, retry_of and triggered_by; search terms are not returned', async () => {
      await store.apply([
        upd(
          'e1',
          1,
          { status: 'failed', error_message: 'boom', error_stack: 'Error: boom\n    at x (y.ts:1:1)' },
          { identity: ident({ retry_of: 'e0', triggered_by: 'dashboard:ops', search: ['order-17'] }) },
        ),
      ]);
      const run = await store.get('e1');
      expect(run).toMatchObject({
        error_stack: 'Error: boom\n    at x (y.ts:1:1)',
        retry_of: 'e0',
        triggered_by: 'dashboard:ops',
        retried_by: null,
        attempts_log: [],
      });
      expect(run).not.toHaveProperty('search');
      const listed = (await store.list({ q: 'order-17' })).runs[0];
      expect(listed).toMatchObject({ run_id: 'e1', retry_of: 'e0', triggered_by: 'dashboard:ops' });
      expect(listed).not.toHaveProperty('search');
    });

    it('q: exact match on run id, user id or a search term, lowercased and trimmed, with other filters', async () => {
      await store.apply([
        upd('Run-X', 1, { status: 'failed' }, { identity: ident({ user_id: 'Alice@Example.com' }, 10) }),
        upd('r2', 1, { status: 'completed' }, { identity: ident({ search: ['order-1', 'acme'] }, 20) }),
        upd('r3', 1, { status: 'failed' }, { identity: ident({ job_id: 'job_b', search: ['acme'] }, 30) }),
        upd('r4', 1, { status: 'failed' }, { identity: ident({ user_id: 'acme' }, 40) }),
        upd('r5', 1, { status: 'failed' }, { identity: ident({ search: ['acme-2'] }, 50) }),
      ]);
      const ids = async (q: Parameters<RunStore['list']>[0]) =>
        (await store.list(q)).runs.map((r) => r.run_id);
      expect(await ids({ q: '  run-x ' })).toEqual(['Run-X']);
      expect(await ids({ q: 'Run-X' })).toEqual(['Run-X']);
      expect(await ids({ q: 'alice@example.com' })).toEqual(['Run-X']);
      expect(await ids({ q: 'ACME' })).toEqual(['r4', 'r3', 'r2']);
      expect(await ids({ q: 'acme', status: ['failed'] })).toEqual(['r4', 'r3']);
      expect(await ids({ q: 'acme', job_id: 'job_a' })).toEqual(['r4', 'r2']);
      expect(await ids({ q: 'acme', user_id: 'acme' })).toEqual(['r4']);
      expect(await ids({ q: 'acme', limit: 1 })).toEqual(['r4']);
      const first = await store.list({ q: 'acme', limit: 2 });
      const second = await store.list({ q: 'acme', limit: 2, cursor: first.next_cursor });
      expect([...first.runs, ...second.runs].map((r) => r.run_id)).toEqual(['r4', 'r3', 'r2']);
      expect(second.next_cursor).toBeNull();
      expect(await ids({ q: 'acm' })).toEqual([]);
      expect(await ids({ q: '  ', job_id: 'job_b' })).toEqual(['r3']); // an empty search filters nothing
      expect(await ids({ q: 'order-1', since: t0 + 21 })).toEqual([]);
      expect(await ids({ q: 'order-1', before: t0 + 21 })).toEqual(['r2']);
    });

    it('user_id and q find runs of non-ASCII user ids (Hebrew, emoji), exactly', async () => {
      const hebrew = 'משתמש-א';
      const emoji = 'ops-🚀';
      await store.apply([
        upd('h1', 1, { status: 'failed' }, { identity: ident({ user_id: hebrew, trigger: 'manual' }, 10) }),
        upd('h2', 1, { status: 'completed' }, { identity: ident({ user_id: hebrew }, 20) }),
        upd('e1', 1, { status: 'failed' }, { identity: ident({ user_id: emoji }, 30) }),
        upd('a1', 1, { status: 'failed' }, { identity: ident({ user_id: 'ops-' }, 40) }),
      ]);
      const ids = async (q: Parameters<RunStore['list']>[0]) =>
        (await store.list(q)).runs.map((r) => r.run_id);
      expect(await ids({ user_id: hebrew })).toEqual(['h2', 'h1']);
      expect(await ids({ user_id: hebrew, status: ['failed'] })).toEqual(['h1']);
      expect(await ids({ user_id: hebrew, trigger: 'manual' })).toEqual(['h1']);
      expect(await ids({ user_id: emoji })).toEqual(['e1']);
      expect(await ids({ user_id: 'ops-' })).toEqual(['a1']);
      expect(await ids({ q: hebrew })).toEqual(['h2', 'h1']);
      expect(await ids({ q: ` ${emoji} ` })).toEqual(['e1']);
      expect(await ids({ q: emoji, status: ['completed'] })).toEqual([]);
      // the run ends: it moves leaves and stays found under its user
      await store.apply([
        upd('h1', 2, { status: 'completed' }, { identity: ident({ user_id: hebrew }, 10) }),
      ]);
      expect(await ids({ user_id: hebrew, status: ['completed'] })).toEqual(['h2', 'h1']);
      expect(await ids({ user_id: hebrew, status: ['failed'] })).toEqual([]);
    });

    it('cancelled: a status of its own in lists, stats and active counts', async () => {
      await store.apply([upd('x1', 1, { status: 'running' })]);
      expect(await store.countActive()).toEqual({ job_a: 1 });
      await store.apply([upd('x1', 2, { status: 'cancelled', error_message: 'cancelled: by ops' })]);
      expect(await store.countActive()).toEqual({});
      expect((await store.list({ status: ['cancelled'] })).runs.map((r) => r.run_id)).toEqual(['x1']);
      const stats = await store.stats('job_a', t0 - 1);
      expect(stats.counts.cancelled).toBe(1);
      expect(stats.finished.map((r) => [r.run_id, r.status])).toEqual([['x1', 'cancelled']]);
    });

    it('every combination of filters returns exactly the matching runs, paged completely', async () => {
      const updates: RunUpdate[] = [];
      const statuses = ['pending', 'running', 'completed', 'failed', 'skipped', 'cancelled'] as const;
      const triggers = ['scheduled', 'manual', 'api'] as const;
      for (let i = 0; i < 60; i++) {
        updates.push(
          upd(
            `f${String(i).padStart(2, '0')}`,
            1,
            { status: statuses[i % 6] },
            {
              identity: ident(
                {
                  job_id: i % 4 === 0 ? 'job_b' : 'job_a',
                  trigger: triggers[(i % 5) % 3],
                  user_id: i % 7 === 0 ? 'u1' : i % 7 === 1 ? 'u2' : null,
                  search: i % 3 === 0 ? ['t3'] : [],
                },
                Math.floor(i / 2) * 100,
              ),
            },
          ),
        );
      }
      await store.apply(updates);
      await store.apply([
        marksUpdate({ run_id: 'f01', ...ident({}, 0) }, { stuck: true, stuck_reason: 'no_workers' }),
        marksUpdate({ run_id: 'f06', ...ident({}, 300) }, { stuck: true, stuck_reason: 'not_picked_up' }),
      ]);
      const all = await Promise.all(updates.map(async (u) => (await store.get(u.run_id))!));
      const terms = new Map(updates.map((u) => [u.run_id, u.identity.search ?? []]));
      const queries: Parameters<RunStore['list']>[0][] = [];
      for (const job_id of [undefined, 'job_a'])
        for (const status of [undefined, ['failed'], ['pending', 'running', 'cancelled']] as const)
          for (const user_id of [undefined, 'u1'])
            for (const trigger of [undefined, 'manual'] as const)
              for (const stuck of [undefined, true, false])
                for (const q of [undefined, 't3'])
                  queries.push({ job_id, status: status && [...status], user_id, trigger, stuck, q });
      queries.push(
        { since: t0 + 1000, before: t0 + 2000 },
        { since: t0 + 500, status: ['failed'], job_id: 'job_a' },
      );
      for (const q of queries) {
        const want = all
          .filter(
            (r) =>
              (!q.job_id || r.job_id === q.job_id) &&
              (!q.status || q.status.includes(r.status)) &&
              (!q.user_id || r.user_id === q.user_id) &&
              (!q.trigger || r.trigger === q.trigger) &&
              (q.stuck === undefined || r.stuck === q.stuck) &&
              (!q.q || terms.get(r.run_id)!.includes(q.q)) &&
              (q.since === undefined || Date.parse(r.created_at) >= q.since) &&
              (q.before === undefined || Date.parse(r.created_at) < q.before),
          )
          .sort(
            (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.run_id < b.run_id ? 1 : -1),
          )
          .map((r) => r.run_id);
        const got: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 40; pages++) {
          const page: RunPage = await store.list({ ...q, limit: 3, cursor });
          got.push(...page.runs.map((r) => r.run_id));
          cursor = page.next_cursor;
          if (!cursor) break;
        }
        expect({ q, got }).toEqual({ q, got: want });
      }
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
