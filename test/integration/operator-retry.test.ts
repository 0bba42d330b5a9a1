import request from 'supertest';
import { downloadRunId } from '../../src/recordings/call-sid';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const runOf = async (sys: TestSystem, id: string) =>
  (await request(sys.url).get(`/api/jobs/runs/${id}`).set(bearer)).body.run;

describe('POST /api/jobs/runs/{run_id}/retry', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys.cleanup());

  it('202 with the new run and retry_of; the new run links back and says who; refusals 409/404', async () => {
    const trig = await request(sys.url).post('/api/jobs/boom_job/trigger').set(bearer).expect(202);
    const old = trig.body.run_id as string;
    await waitFor(async () => (await runOf(sys, old))?.status === 'failed', 30_000);
    const retry = await request(sys.url).post(`/api/jobs/runs/${old}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: expect.any(String), retry_of: old });
    expect(retry.body.run_id).not.toBe(old);
    expect(await runOf(sys, retry.body.run_id)).toMatchObject({
      job_id: 'boom_job',
      retry_of: old,
      triggered_by: 'api:admin',
    });

    const ok = await request(sys.url).post('/api/jobs/quick_job/trigger').set(bearer).expect(202);
    await waitFor(async () => (await runOf(sys, ok.body.run_id))?.status === 'completed', 30_000);
    const notFailed = await request(sys.url).post(`/api/jobs/runs/${ok.body.run_id}/retry`).set(bearer);
    expect(notFailed.status).toBe(409);
    expect(notFailed.body).toMatchObject({ error: 'run_not_failed', status: 'completed' });
    const missing = await request(sys.url).post('/api/jobs/runs/nope123/retry').set(bearer);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('run_not_found');
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

  it('resets the call: the player sees 202 again, then the file', async () => {
    const sid = 'CAretry1';
    provider.set(`/rec/${sid}`, { kind: 'file', body: audioBytes(5000) });
    await putUrl(sys, sid, provider.url(`/rec/${sid}`));
    const failed = await waitFor(async () => {
      const r = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
      return r.status === 202 ? null : r;
    }, 60_000);
    expect(failed!.status).toBe(500);
    expect(json(failed!).error).toBe('recording_download_failed');

    // The provider now serves a file that fits; the operator retries the failed run.
    const body = audioBytes(800);
    provider.set(`/rec/${sid}`, { kind: 'file', body, delayMs: 300 });
    const failedRun = downloadRunId(sid, 1);
    const retry = await request(sys.url).post(`/api/jobs/runs/${failedRun}/retry`).set(bearer);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ run_id: downloadRunId(sid, 2), retry_of: failedRun });

    const next = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
    expect([200, 202]).toContain(next.status);
    const ok = await waitFor(async () => {
      const r = await rawGet(sys.url, `/api/recordings/file/${sid}`, bearer);
      return r.status === 200 ? r : null;
    }, 60_000);
    expect(ok!.body.equals(body)).toBe(true);
    expect((await runOf(sys, downloadRunId(sid, 2))).retry_of).toBe(failedRun);
  });
});
