/** `GET /api/jobs/runs/{run_id}` `payload`: redacted from the BullMQ job while it exists, null once it is gone. */
import request from 'supertest';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ REDACT_KEYS: 'url,token,password,secret,authorization,api_key' });
});
afterAll(() => sys.cleanup());

it('answers the run as before plus its redacted payload; null after the queue job is removed', async () => {
  const payload = {
    call_sid: 'CA9',
    url: 'https://provider.example.com/rec/CA9.mp3?sig=s3cr3t',
    mirror: 'https://cdn.example.com/CA9.mp3?X-Amz-Signature=abcdef',
    auth: { Api_Key: 'k-123', note: 'kept' },
  };
  const { run_id } = await sys.service.enqueueDynamic('dyn_job', payload, { user_id: 'u1' });
  await waitFor(async () => (await sys.store.get(run_id))?.status === 'completed');
  const res = await request(sys.url).get(`/api/jobs/runs/${run_id}`).set(bearer);
  expect(res.status).toBe(200);
  expect(res.body.run).toMatchObject({ run_id, job_id: 'dyn_job', status: 'completed', user_id: 'u1' });
  expect(res.body.payload).toEqual({
    call_sid: 'CA9',
    url: '[redacted]',
    mirror: 'https://cdn.example.com/CA9.mp3?…',
    auth: { Api_Key: '[redacted]', note: 'kept' },
  });
  // (The test processor echoes its payload as the result: that is the processor's own output, kept as is.)
  for (const secret of ['s3cr3t', 'abcdef', 'k-123'])
    expect(JSON.stringify(res.body.payload)).not.toContain(secret);

  await (await sys.queues.get('tq').getJob(run_id))?.remove();
  const gone = await request(sys.url).get(`/api/jobs/runs/${run_id}`).set(bearer);
  expect(gone.status).toBe(200);
  expect(gone.body.payload).toBeNull();
  expect(gone.body.run.run_id).toBe(run_id);
});
