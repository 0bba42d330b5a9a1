import { type RunIdentity, type RunLog, type RunUpdate, seqFromEventId } from '../../src/monitor/run';
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
      expect(all.counts).toEqual({ completed: 4, failed: 2, skipped: 2, running: 2, pending: 1 });
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
      expect(recent.counts).toEqual({ completed: 2, failed: 1, skipped: 1, running: 1, pending: 0 });
      expect(recent.finished.map((r) => r.run_id)).toEqual(['s09', 's08', 's07']);
      const none = await store.stats('job_c', t0);
      expect(none).toEqual({
        counts: { pending: 0, running: 0, completed: 0, failed: 0, skipped: 0 },
        finished: [],
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
