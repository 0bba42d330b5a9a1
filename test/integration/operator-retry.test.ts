import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import type { Processor } from '../../src/workers/processor-context';
import { RedisKeys } from '../../src/queues/redis-keys';
import { downloadRunId } from '../../src/recordings/call-sid';
import { waitForRecording } from '../../src/recordings/client';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const runOf = async (sys: TestSystem, id: string) =>
  (await request(sys.url).get(`/api/jobs/runs/${id}`).set(bearer)).body.run as JobRun;
const until = (sys: TestSystem, id: string, status: string) =>
  waitFor(async () => ((await runOf(sys, id))?.status === status ? runOf(sys, id) : null), 30_000);

/**
 * The test registry plus a dynamic job that always fails, and a static job that may not run twice at once
 * (allow_concurrent false) whose runs fail or wait for the test, as {@link gated} says.
 */
const YML = `${TEST_JOBS_YML.replace(
  'dynamic_jobs:',
  '  - { job_id: gated_job, name: Gated, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: gated, queue: tq }\ndynamic_jobs:',
)}  - { job_id: dyn_boom, name: Dyn boom, category: test, callback_name: boom, queue: tq }\n`;

/** How gated_job's next runs behave: fail, or run until the test calls `release`. */
const gated = { fail: true, release: () => {}, released: Promise.resolve() };
function holdGated(): void {
  gated.fail = false;
  gated.released = new Promise<void>((resolve) => {
    gated.release = resolve;
  });
}
const gatedProcessor = (async () => {
  if (gated.fail) throw new Error('gated: told to fail');
  await gated.released;
  return { released: true };
}) as Processor<never>;

describe('POST /api/jobs/runs/{run_id}/retry', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({}, { jobsYml: YML, processors: { gated: gatedProcessor } });
  });
  afterAll(async () => {
    gated.release();
    await sys.cleanup();
  });

  it('202 with the new run and retry_of; the new run links back and says who; refusals 409/404', async () => {
    const trig = await request(sys.url).post('/api/jobs/boom_job/trigger').set(bearer).expect(202);
    const old = trig.body.run_id as string;
    await until(sys, old, 'failed');
    const retry = await request(sys.url).post(`/api/jobs/runs/${old}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: expect.any(String), retry_of: old });
    expect(retry.body.run_id).not.toBe(old);
    expect(await runOf(sys, retry.body.run_id)).toMatchObject({
      job_id: 'boom_job',
      retry_of: old,
      triggered_by: 'api:admin',
    });
    expect((await runOf(sys, old)).retried_by).toBe(retry.body.run_id);

    const ok = await request(sys.url).post('/api/jobs/quick_job/trigger').set(bearer).expect(202);
    await until(sys, ok.body.run_id, 'completed');
    const notFailed = await request(sys.url).post(`/api/jobs/runs/${ok.body.run_id}/retry`).set(bearer);
    expect(notFailed.status).toBe(409);
    expect(notFailed.body).toMatchObject({ error: 'run_not_failed', status: 'completed' });
    const missing = await request(sys.url).post('/api/jobs/runs/nope123/retry').set(bearer);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('run_not_found');
  });

  it('retries a failed run once: a second retry is 409 run_already_retried naming the first retry', async () => {
    const trig = await request(sys.url).post('/api/jobs/boom_job/trigger').set(bearer).expect(202);
    const old = trig.body.run_id as string;
    await until(sys, old, 'failed');
    const first = await request(sys.url).post(`/api/jobs/runs/${old}/retry`).set(bearer).expect(202);
    const again = await request(sys.url).post(`/api/jobs/runs/${old}/retry`).set(bearer);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'run_already_retried', run_id: first.body.run_id });

    // Many at once (several operators, a bulk action): exactly one new run.
    const trig2 = await request(sys.url).post('/api/jobs/boom_job/trigger').set(bearer).expect(202);
    const old2 = trig2.body.run_id as string;
    await until(sys, old2, 'failed');
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => request(sys.url).post(`/api/jobs/runs/${old2}/retry`).set(bearer)),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409, 409, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body.error).toBe('run_already_retried');
    const { runs } = await sys.store.list({ job_id: 'boom_job', limit: 200 });
    expect(runs.filter((r) => r.retry_of === old2)).toHaveLength(1);
  });

  it('a failed static run of a job that may not run twice at once: 409 job_already_running naming the active run, 202 once it ended', async () => {
    const trig = await request(sys.url).post('/api/jobs/gated_job/trigger').set(bearer).expect(202);
    const failed = trig.body.run_id as string;
    await until(sys, failed, 'failed');

    // Another run of the job is under way (held by the test until released).
    holdGated();
    const active = (await request(sys.url).post('/api/jobs/gated_job/trigger').set(bearer).expect(202)).body
      .run_id as string;
    await until(sys, active, 'running');
    const refused = await request(sys.url).post(`/api/jobs/runs/${failed}/retry`).set(bearer);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'job_already_running', job_id: 'gated_job', run_id: active });
    // No new run was made and the failed run is not marked retried.
    const { runs } = await sys.store.list({ job_id: 'gated_job', limit: 50 });
    expect(runs.map((r) => r.run_id).sort()).toEqual([active, failed].sort());
    expect((await runOf(sys, failed)).retried_by).toBeNull();

    // Once the active run ended, the same failed run is retried.
    gated.release();
    await until(sys, active, 'completed');
    const retry = await request(sys.url).post(`/api/jobs/runs/${failed}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: expect.any(String), retry_of: failed });
    expect((await until(sys, retry.body.run_id, 'completed'))?.retry_of).toBe(failed);
  });

  it('retries a failed dynamic run with its payload; refused with 409 job_paused while the job is paused', async () => {
    const { run_id: old } = await sys.service.enqueueDynamic(
      'dyn_boom',
      { order: 'o-17' },
      { user_id: 'u9' },
    );
    await until(sys, old, 'failed');
    const retry = await request(sys.url).post(`/api/jobs/runs/${old}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: expect.any(String), retry_of: old });
    const detail = (await request(sys.url).get(`/api/jobs/runs/${retry.body.run_id}`).set(bearer)).body;
    expect(detail.payload).toEqual({ order: 'o-17' });
    expect(detail.run).toMatchObject({
      job_id: 'dyn_boom',
      retry_of: old,
      user_id: 'u9',
      triggered_by: 'api:admin',
    });
    await until(sys, retry.body.run_id, 'failed');

    // Paused: neither a retry nor application code makes a new run.
    await request(sys.url).post('/api/jobs/dyn_boom/pause').set(bearer).expect(200);
    const listed = (await request(sys.url).get('/api/jobs').set(bearer)).body.jobs.find(
      (j: { job_id: string }) => j.job_id === 'dyn_boom',
    );
    expect(listed).toMatchObject({ paused: true, paused_by: 'api:admin' });
    const paused = await request(sys.url).post(`/api/jobs/runs/${retry.body.run_id}/retry`).set(bearer);
    expect(paused.status).toBe(409);
    expect(paused.body).toMatchObject({ error: 'job_paused', paused_by: 'api:admin' });
    await expect(sys.service.enqueueDynamic('dyn_boom', { order: 'o-18' })).rejects.toMatchObject({
      code: 'job_paused',
      status: 409,
    });
    // The refused retry left no claim behind: after resume the same run is retried.
    await request(sys.url).post('/api/jobs/dyn_boom/resume').set(bearer).expect(200);
    const after = await request(sys.url).post(`/api/jobs/runs/${retry.body.run_id}/retry`).set(bearer);
    expect(after.status).toBe(202);
    expect(after.body.retry_of).toBe(retry.body.run_id);
  });
});

describe('retrying a failed recording download', () => {
  let sys: TestSystem;
  let provider: FakeProvider;
  beforeAll(async () => {
    provider = await startProvider('127.0.0.1');
    sys = await startRecordingSystem({ RECORDING_MAX_BYTES: '1000' });
  });
  afterAll(async () => {
    await sys.cleanup();
    await provider.close();
  });

  it('resets the call: the player sees 202 again (exactly), then the file', async () => {
    const sid = 'CAretry1';
    provider.set(`/rec/${sid}`, { kind: 'file', body: audioBytes(5000) });
    await putUrl(sys, sid, provider.url(`/rec/${sid}`));
    const failed = await waitFor(async () => {
      const r = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
      return r.status === 202 ? null : r;
    }, 60_000);
    expect(failed!.status).toBe(500);
    expect(json(failed!).error).toBe('recording_download_failed');

    // The provider now serves a file that fits, but only once the test lets it; the operator retries.
    const body = audioBytes(800);
    provider.set(`/rec/${sid}`, { kind: 'gated', body });
    const failedRun = downloadRunId(sid, 1);
    const retry = await request(sys.url).post(`/api/jobs/runs/${failedRun}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: downloadRunId(sid, 2), retry_of: failedRun });

    // The download is under way (the provider holds it): the player is told to wait.
    await provider.held(`/rec/${sid}`);
    // A run's start is recorded within the recorder's start delay (100 ms): poll until the 202 says so.
    const next = await waitFor(async () => {
      const r = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
      expect(r.status).toBe(202);
      return json(r).status === 'running' ? r : null;
    }, 10_000);
    expect(json(next!)).toMatchObject({ status: 'running', attempt: 0 });
    // While it runs, the failed run can't be retried again.
    const twice = await request(sys.url).post(`/api/jobs/runs/${failedRun}/retry`).set(bearer);
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ error: 'run_already_retried', run_id: downloadRunId(sid, 2) });

    provider.release(`/rec/${sid}`);
    const ok = await waitFor(async () => {
      const r = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
      return r.status === 200 ? r : null;
    }, 60_000);
    expect(ok!.body.equals(body)).toBe(true);
    expect((await runOf(sys, downloadRunId(sid, 2))).retry_of).toBe(failedRun);
  });
});

describe('retrying the download of a call that used up its 3 automatic attempts', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    // API only: no worker ever takes a download, so every attempt gets stuck.
    sys = await startRecordingSystem({
      ROLES: 'api',
      RECORDING_JOB_TIMEOUT_SECONDS: '2',
      RECORDING_RETRY_WINDOW_SECONDS: '120',
      RECORDING_RETRY_AFTER_SECONDS: '1',
      RECORDING_RECOVERY_RETRY_AFTER_SECONDS: '1',
    });
  });
  afterAll(() => sys.cleanup());

  const file = (sid: string) => rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);

  it('gets a fresh window: 202 again; a download already waiting is 409 job_already_running, not replaced', async () => {
    const sid = 'CAexhaust';
    await putUrl(sys, sid, 'http://127.0.0.1:9/never.wav');
    const last = await waitFor(
      async () => {
        const r = await file(sid);
        return r.status === 202 ? null : r;
      },
      90_000,
      250,
    );
    expect(last!.status).toBe(500);
    expect(json(last!)).toMatchObject({ error: 'worker_not_processing_queue', attempts: 3 });
    expect((await runOf(sys, downloadRunId(sid, 4))).status).toBe('failed');

    const retry = await request(sys.url)
      .post(`/api/jobs/runs/${downloadRunId(sid, 4)}/retry`)
      .set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: downloadRunId(sid, 5), retry_of: downloadRunId(sid, 4) });
    const again = await file(sid);
    expect(again.status).toBe(202);
    expect(json(again).attempt).toBeLessThan(3);

    // Another failed run of the same call: the download waiting now is kept, and named.
    const redis = testRedis();
    const gen = Number(await redis.get(new RedisKeys(sys.prefix).recordingGeneration(sid)));
    await redis.quit();
    const other = await request(sys.url)
      .post(`/api/jobs/runs/${downloadRunId(sid, 3)}/retry`)
      .set(bearer);
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: 'job_already_running', run_id: downloadRunId(sid, gen) });
    expect((await runOf(sys, downloadRunId(sid, gen))).status).toBe('pending');
  });

  it('paused recording_download: the file route answers 500 recording_downloads_paused at once and enqueues nothing', async () => {
    const sid = 'CApaused';
    await putUrl(sys, sid, 'http://127.0.0.1:9/never.wav');
    await request(sys.url).post('/api/jobs/recording_download/pause').set(bearer).expect(200);
    try {
      const r = await file(sid);
      expect(r.status).toBe(500);
      expect(json(r)).toMatchObject({ error: 'recording_downloads_paused' });
      const statuses: number[] = [];
      const res = await waitForRecording(sys.url, sid, {
        token: TEST_TOKEN,
        onStatus: (s) => statuses.push(s),
      });
      expect(res).toMatchObject({ ready: false, errorType: 'worker_offline' });
      expect(statuses).toEqual([500]);
      const jobs = await sys.queues.get('recordings').getJobs(undefined, 0, 1000);
      expect(jobs.filter((j) => j.id?.startsWith(`rdl-${sid}-`))).toEqual([]);
      // A retry of a failed download is refused the same way as any paused job's.
      const retry = await request(sys.url)
        .post(`/api/jobs/runs/${downloadRunId('CAexhaust', 3)}/retry`)
        .set(bearer);
      expect(retry.status).toBe(409);
      expect(retry.body.error).toBe('job_paused');
    } finally {
      await request(sys.url).post('/api/jobs/recording_download/resume').set(bearer).expect(200);
    }
    const resumed = await file(sid);
    expect(resumed.status).toBe(202);
    expect(json(resumed)).toMatchObject({ status: 'queued', attempt: 0 });
  });
});
