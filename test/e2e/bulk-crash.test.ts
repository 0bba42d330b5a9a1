/**
 * #12 bulk actions survive the API process that runs them: a real child process starts a bulk retry of 1,000
 * failed runs and is SIGKILLed in the middle; another API process (this one) finds it unfinished on its periodic
 * look (BULK_RESUME_SECONDS), takes it over once the dead one's claim lapses, and finishes it — each run
 * retried exactly once, the one in flight at the kill included.
 */
import request from 'supertest';
import { seedRuns } from '../helpers/dashboard';
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { REDIS_URL, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(120_000);

const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const prefix = uniquePrefixFor('bulkcrash');
const jobsFile = tempYaml(PROCESS_JOBS_YML);
const N = 1000;
let survivor: TestSystem;

beforeAll(async () => {
  // The API process that survives (no worker anywhere: retried runs stay pending, the counts stay exact).
  survivor = await startTestSystem(
    { QUEUE_PREFIX: prefix, ROLES: 'api', BULK_RESUME_SECONDS: '1' },
    { jobsYml: PROCESS_JOBS_YML },
  );
});
afterAll(async () => {
  await killAllRoles();
  await survivor?.cleanup();
});

const bulkState = async (id: string) =>
  (await request(survivor.url).get(`/api/jobs/runs/bulk/${id}`).set(bearer).expect(200)).body;

describe('a bulk action whose API process is killed', () => {
  it('is finished by another API process, every run retried once', async () => {
    const t = Date.now() - 60_000;
    const ids = Array.from({ length: N }, (_, i) => `mcrash${String(i).padStart(6, '0')}`);
    await seedRuns(
      survivor.store,
      ids.map((run_id, i) => ({
        run_id,
        job_id: 'boom_job',
        status: 'failed',
        created_ms: t + i,
        error: 'x',
      })),
    );

    const doomed = await spawnRole({
      ROLES: 'api',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      JOBS_CONFIG: jobsFile,
      BULK_RESUME_SECONDS: '1',
    });
    const start = await request(`http://127.0.0.1:${doomed.port}`)
      .post('/api/jobs/runs/bulk')
      .set(bearer)
      .send({ action: 'retry', run_ids: ids });
    expect(start.status).toBe(202);
    const bulkId = start.body.bulk_id as string;

    // Mid-bulk: some runs done, not all. SIGKILL: no chance to save, release or hand over anything.
    await waitFor(async () => (await bulkState(bulkId)).done >= 5, 30_000, 10);
    await doomed.stop('SIGKILL');
    const atKill = await bulkState(bulkId);
    expect(atKill.status).toBe('running');
    expect(atKill.done).toBeLessThan(N);

    // The survivor takes over (after the dead process's claim lapses) and finishes it.
    const done = await waitFor(
      async () => {
        const b = await bulkState(bulkId);
        return b.status === 'done' ? b : null;
      },
      60_000,
      200,
    );
    expect(done).toMatchObject({ status: 'done', matched: N, done: N, refused: 0, reasons: {} });
    expect(done.done).toBeGreaterThan(atKill.done);

    // Every failed run was retried exactly once.
    const retries: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await survivor.store.list({ job_id: 'boom_job', status: ['pending'], limit: 200, cursor });
      retries.push(...page.runs.map((r) => r.retry_of ?? ''));
      cursor = page.next_cursor;
    } while (cursor);
    expect(retries).toHaveLength(N);
    expect(new Set(retries)).toEqual(new Set(ids));
  });
});
