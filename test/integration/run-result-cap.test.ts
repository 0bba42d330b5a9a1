import type { JobRun } from '../../src/monitor/run';
import {
  DEFAULT_RUN_RESULT_MAX_BYTES,
  MAX_ATTEMPT_ERROR_BYTES,
  RUN_TRUNCATED_MARKER,
} from '../../src/monitor/run';
import { StoreUnavailableError } from '../../src/monitor/store-unavailable-error';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, type TestSystem, testProcessors } from '../helpers/system';
import type { Processor } from '../../src/workers/processor-context';

jest.setTimeout(120_000);

const HUGE_BYTES = 20 * 1024 * 1024;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem(
    // One attempt: the failing job below writes 20 MB to BullMQ per attempt. BullMQ's own scripts with
    // 20 MB arguments can hold Redis for seconds on a loaded machine: reads here wait longer than 2 s.
    { WORKER_CONCURRENCY: '2', JOB_ATTEMPTS: '1', REDIS_COMMAND_TIMEOUT_MS: '15000' },
    {
      jobsYml: TEST_JOBS_YML.replace(
        'jobs:\n',
        'jobs:\n  - { job_id: huge_job, name: Huge, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: huge, queue: tq }\n' +
          '  - { job_id: huge_error_job, name: Huge error, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: hugeError, queue: tq }\n',
      ),
      processors: {
        ...testProcessors,
        // A real processor returning 20 MB (BullMQ stores it and puts it on the events stream).
        huge: (async () => ({ blob: 'x'.repeat(HUGE_BYTES) })) as Processor<never>,
        // A real processor throwing an error whose message is 20 MB (its stack repeats it).
        hugeError: (async () => {
          throw new Error(`provider answered: ${'y'.repeat(HUGE_BYTES)}`);
        }) as Processor<never>,
      },
    },
  );
});
afterAll(() => sys?.cleanup());

const finished = (id: string) =>
  waitFor(async () => {
    // A read that times out while Redis is busy is asked again (the condition is the run's status).
    const run = await sys.store.get(id).catch((err: unknown) => {
      if (err instanceof StoreUnavailableError) return null;
      throw err;
    });
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

it('a 20 MB error message ends the run failed with the message, stack and attempt error truncated', async () => {
  const failing = await sys.service.trigger('huge_error_job');
  const run = await finished(failing.run_id);
  // Runs after it are still recorded.
  const after = await sys.service.trigger('chatty_job');
  expect((await finished(after.run_id)).status).toBe('completed');

  expect(run.status).toBe('failed');
  expect(run.error_message?.startsWith('provider answered: yyy')).toBe(true);
  expect(run.error_message?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
  expect(Buffer.byteLength(run.error_message ?? '')).toBeLessThanOrEqual(DEFAULT_RUN_RESULT_MAX_BYTES);
  expect(run.error_stack?.startsWith('Error: provider answered: yyy')).toBe(true);
  expect(Buffer.byteLength(run.error_stack ?? '')).toBeLessThanOrEqual(DEFAULT_RUN_RESULT_MAX_BYTES);
  expect(run.attempts_log).toHaveLength(1);
  expect(run.attempts_log[0]).toMatchObject({ attempt: 1, outcome: 'failed' });
  expect(run.attempts_log[0].error?.endsWith(RUN_TRUNCATED_MARKER)).toBe(true);
  expect(Buffer.byteLength(run.attempts_log[0].error ?? '')).toBeLessThanOrEqual(MAX_ATTEMPT_ERROR_BYTES);
  // The whole stored run stays small (it held the 20 MB twice more before the cap covered them).
  expect(Buffer.byteLength(JSON.stringify(run))).toBeLessThan(3 * DEFAULT_RUN_RESULT_MAX_BYTES);
  expect(sys.logs.events()).not.toContain('run_store_update_rejected');
});
