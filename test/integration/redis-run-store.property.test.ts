/**
 * The Redis run store against the reference (MemoryRunStore, which folds src/monitor/run.ts applyRunUpdate):
 * random histories of a few runs — starts, progress, ends with null fields, failed and stalled attempts,
 * stuck and rerun marks, replays and stale updates, in random batches — must read back the same. This covers both of the apply
 * script's ways in: the JSON head and the tab-separated head of an update that may create its run finished
 * (which, when the run exists after all, is rebuilt into the same head).
 */
import fc from 'fast-check';
import type { AttemptRecord, RunMarks, RunPatch, RunStatus, RunUpdate } from '../../src/monitor/run';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis';

jest.setTimeout(120_000);

const redis = testRedis();
const prefix = uniquePrefix('store-prop');
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

// Runs created within the last day (those a batch writes to their day bucket when created finished) and a
// week ago (those that take the general path): both layouts answer as the reference.
const T0 = Date.now() - 3_600_000;
const OLD = T0 - 6 * 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const STATUSES: RunStatus[] = ['pending', 'running', 'completed', 'failed', 'skipped', 'cancelled'];
const OUTCOMES: AttemptRecord['outcome'][] = ['completed', 'failed', 'stalled', 'cancelled', 'skipped'];
// Texts that exercise the text head's limits: a tab sends the JSON head instead.
const TEXTS = ['boom', 'a\tb', 'line\nbreak', 'quote " and \\', 'é 😀'];

const time = fc.integer({ min: 0, max: 600_000 }).map((d) => iso(T0 + d));
const patch: fc.Arbitrary<RunPatch> = fc.record(
  {
    status: fc.constantFrom(...STATUSES),
    started_at: fc.option(time, { nil: null }),
    ended_at: fc.option(time, { nil: null }),
    duration_ms: fc.option(fc.integer({ min: 0, max: 4_000_000 }), { nil: null }),
    attempts: fc.integer({ min: 1, max: 3 }),
    // Stalls only grow (BullMQ's stalledCounter): set from the seq below when present.
    stalls: fc.constant(0),
    worker: fc.constantFrom('host:1', 'host:2', 'h\t3'),
    progress: fc.integer({ min: 0, max: 100 }),
    error_message: fc.option(fc.constantFrom(...TEXTS), { nil: null }),
    result: fc.option(fc.constantFrom({ ok: true }, 'done', 7), { nil: null }),
  },
  { requiredKeys: [] },
);
const attempt: fc.Arbitrary<AttemptRecord> = fc.record({
  attempt: fc.integer({ min: 1, max: 3 }),
  started_at: fc.option(time, { nil: null }),
  ended_at: fc.option(time, { nil: null }),
  worker: fc.option(fc.constantFrom('host:1', 'host:2'), { nil: null }),
  outcome: fc.constantFrom(...OUTCOMES),
  error: fc.option(fc.constantFrom(...TEXTS), { nil: null }),
});
/** One update of run `r<n>`: its seq from a small pool, so replays and stale updates happen. */
const update = fc.record({
  run: fc.integer({ min: 0, max: 2 }),
  seq: fc.integer({ min: 1, max: 12 }),
  patch,
  attempt: fc.option(attempt, { nil: undefined }),
  logs: fc.integer({ min: 0, max: 2 }),
  marks: fc.option(
    fc.constantFrom<RunMarks>(
      { stuck: true, stuck_reason: 'running_too_long', stuck_since: iso(T0 + 1000) },
      { stuck: false, stuck_reason: null, stuck_since: null },
      { retried_by: 'r9' },
    ),
    { nil: undefined, freq: 4 },
  ),
  // A patch-less update that only carries marks (an operator's or the stuck monitor's).
  marksOnly: fc.boolean(),
});

let round = 0;

it('reads back every random history exactly as the reference store does, whatever the batches', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(update, { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
      async (history, cuts) => {
        round++;
        const ids = [0, 1, 2].map((n) => `c${round}${n === 1 ? '\tx' : ''}-${n}`);
        const updates: RunUpdate[] = history.map((h) => {
          const seq = `${String(1_700_000_000_000 + h.seq).padStart(15, '0')}-${50_000_000 + h.seq}`;
          return {
            run_id: ids[h.run],
            seq,
            identity: {
              job_id: h.run === 2 ? 'job\tb' : 'job_a',
              queue: 'q',
              created_at: iso(h.run === 2 ? OLD : T0),
              trigger: 'api',
              user_id: h.run === 0 ? null : `u${h.run}`,
              ...(h.run === 1 ? { search: ['Order-7'] } : {}),
            },
            patch:
              h.marks && h.marksOnly
                ? {}
                : 'stalls' in h.patch
                  ? { ...h.patch, stalls: Math.floor(h.seq / 5) }
                  : h.patch,
            ...(h.attempt && !(h.marks && h.marksOnly) ? { attempt: h.attempt } : {}),
            ...(h.marks ? { marks: h.marks } : {}),
            logs: Array.from({ length: h.marks && h.marksOnly ? 0 : h.logs }, (_, k) => ({
              time: iso(T0 + h.seq),
              level: 'info' as const,
              message: `line ${h.seq}.${k}`,
              seq: `${seq}${k}`,
            })),
          };
        });
        const reference = new MemoryRunStore();
        const store = new RedisRunStore(redis, { prefix });
        await reference.apply(updates);
        // The same updates in random batches, in order.
        let at = 0;
        for (let i = 0; at < updates.length; i++) {
          const n = cuts[i % cuts.length];
          await store.apply(updates.slice(at, at + n));
          at += n;
        }
        for (const id of ids) {
          const want = await reference.get(id);
          const got = await store.get(id);
          expect(got).toEqual(want);
        }
      },
    ),
    { numRuns: 1000 },
  );
});
