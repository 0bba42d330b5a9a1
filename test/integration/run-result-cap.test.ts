import type { JobRun } from '../../src/monitor/run';
import { DEFAULT_RUN_RESULT_MAX_BYTES, RUN_TRUNCATED_MARKER } from '../../src/monitor/run';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, type TestSystem, testProcessors } from '../helpers/system';
import type { Processor } from '../../src/workers/processor-context';

jest.setTimeout(120_000);

const HUGE_BYTES = 20 * 1024 * 1024;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem(
    { WORKER_CONCURRENCY: '2' },
    {
      jobsYml: TEST_JOBS_YML.replace(
        'jobs:\n',
        'jobs:\n  - { job_id: huge_job, name: Huge, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: huge, queue: tq }\n',
      ),
      processors: {
        ...testProcessors,
        // A real processor returning 20 MB (BullMQ stores it and puts it on the events stream).
        huge: (async () => ({ blob: 'x'.repeat(HUGE_BYTES) })) as Processor<never>,
      },
    },
  );
});
afterAll(() => sys?.cleanup());

const finished = (id: string) =>
  waitFor(async () => {
    const run = await sys.store.get(id);
    return run && ['completed', 'failed', 'skipped'].includes(run.status) ? run : null;
  }, 60_000) as Promise<JobRun>;

it('a 20 MB result does not stall tracking: later runs are recorded, the big one is kept truncated with the marker', async () => {
  // What the writers hand their listeners (live stream, alerts, metrics) is capped too.
  let largestSeen = 0;
  // The worker's recorder writes the run; the reconciler only covers what it couldn't.
  const watch = (updates: readonly { patch: object }[]) => {
    for (const u of updates) {
      const bytes = Buffer.byteLength(JSON.stringify(u.patch));
      if (bytes > largestSeen) largestSeen = bytes;
    }
  };
  sys.recorder?.onApplied(watch);
  sys.tracker?.onApplied(watch);
  const huge = await sys.service.trigger('huge_job');
  // Runs enqueued behind it (allow_concurrent job) must be recorded too.
  const later = [];
  for (let i = 0; i < 3; i++) later.push(await sys.service.trigger('chatty_job', { trigger: 'manual' }));
  const huge_run = await finished(huge.run_id);
  for (const { run_id } of later) expect((await finished(run_id)).status).toBe('completed');
  const after = await sys.service.trigger('chatty_job');
  expect((await finished(after.run_id)).status).toBe('completed');

  expect(huge_run.status).toBe('completed');
  expect(huge_run.result).toMatchObject({
    truncated: RUN_TRUNCATED_MARKER,
    original_bytes: Buffer.byteLength(JSON.stringify({ blob: 'x'.repeat(HUGE_BYTES) })),
  });
  expect((huge_run.result as { preview: string }).preview.startsWith('{"blob":"xxx')).toBe(true);
  expect(Buffer.byteLength(JSON.stringify(huge_run.result))).toBeLessThanOrEqual(
    DEFAULT_RUN_RESULT_MAX_BYTES,
  );
  expect(sys.recorder).toBeDefined();
  expect(largestSeen).toBeGreaterThan(DEFAULT_RUN_RESULT_MAX_BYTES / 2);
  expect(largestSeen).toBeLessThan(DEFAULT_RUN_RESULT_MAX_BYTES + 4096);
});
