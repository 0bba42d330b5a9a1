/**
 * `GET /api/jobs/runs/{run_id}` on real Redis: the `payload` redacted from the BullMQ job while it exists (null
 * once it is gone), and the run itself redacted the same way wherever the API answers it (detail, lists, the
 * live stream): `result` masked like a payload, URL query strings cut from errors, stack, attempts and logs.
 */
import { memoryLogger } from '../helpers/logger';
import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import type { Processor } from '../../src/workers/processor-context';
import { RedisRunEventBus } from '../../src/queues/redis-run-events';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };

const SIGNED = 'https://provider.example.com/rec/CA9.mp3?sig=SIGSECRET';
/** Fails every attempt with a signed URL in its log line, message and stack (a provider error echoing it). */
const leaky = (async (ctx) => {
  ctx.log(`fetching ${SIGNED}`);
  throw new Error(`provider refused GET ${SIGNED}`);
}) as Processor<never>;

/** The stacks `deep` threw, newest last (40 lines each: the message and 39 frames of recursion). */
const thrown: string[] = [];
const deep = (async () => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 39;
  try {
    const down = (n: number): never => {
      if (n === 0) throw new Error('deep failure');
      return down(n - 1);
    };
    down(60);
  } catch (err) {
    thrown.push((err as Error).stack ?? '');
    throw err;
  } finally {
    Error.stackTraceLimit = limit;
  }
}) as Processor<never>;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem(
    { REDACT_KEYS: 'url,token,password,secret,authorization,api_key' },
    {
      jobsYml: `${TEST_JOBS_YML}  - { job_id: leaky_job, name: Leaky, category: test, callback_name: leaky, queue: tq }
  - { job_id: deep_job, name: Deep, category: test, callback_name: deep, queue: tq }\n`,
      processors: { leaky, deep },
    },
  );
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
  // The test processor echoes its payload as its result: the result is redacted the same way.
  expect(res.body.run.result).toEqual({ ok: true, data: res.body.payload });
  for (const secret of ['s3cr3t', 'abcdef', 'k-123']) expect(JSON.stringify(res.body)).not.toContain(secret);
  // Only the answer is redacted: the stored run keeps what the processor returned.
  expect((await sys.store.get(run_id))!.result).toEqual({ ok: true, data: payload });

  await (await sys.queues.get('tq').getJob(run_id))?.remove();
  const gone = await request(sys.url).get(`/api/jobs/runs/${run_id}`).set(bearer);
  expect(gone.status).toBe(200);
  expect(gone.body.payload).toBeNull();
  expect(gone.body.run.run_id).toBe(run_id);
});

it('cuts URL query strings from the error, the stack, every attempt and the logs, in the detail and the lists', async () => {
  const { run_id } = await sys.service.enqueueDynamic('leaky_job', { call_sid: 'CA9' });
  await waitFor(async () => (await sys.store.get(run_id))?.status === 'failed');
  const stored = (await sys.store.get(run_id))!;
  expect(stored.error_message).toContain('SIGSECRET');
  const res = await request(sys.url).get(`/api/jobs/runs/${run_id}`).set(bearer);
  expect(res.status).toBe(200);
  const run = res.body.run as JobRun;
  const cut = 'provider refused GET https://provider.example.com/rec/CA9.mp3?…';
  expect(run.error_message).toBe(cut);
  expect(run.error_stack?.split('\n')[0]).toBe(`Error: ${cut}`);
  expect(run.attempts_log.length).toBeGreaterThanOrEqual(2);
  for (const a of run.attempts_log) expect(a).toMatchObject({ outcome: 'failed', error: cut });
  expect(run.logs.map((l) => l.message)).toContain('fetching https://provider.example.com/rec/CA9.mp3?…');
  expect(JSON.stringify(res.body)).not.toContain('SIGSECRET');

  for (const path of ['/api/jobs/runs?job_id=leaky_job', '/api/jobs/leaky_job']) {
    const list = await request(sys.url).get(path).set(bearer);
    expect(list.status).toBe(200);
    expect(list.body.runs.map((r: JobRun) => r.run_id)).toContain(run_id);
    expect(JSON.stringify(list.body)).not.toContain('SIGSECRET');
  }
});

it('redacts what the live stream sends: a finished run’s error and result, log lines', async () => {
  const redis = testRedis();
  const bus = new RedisRunEventBus(redis, sys.prefix, memoryLogger().logger);
  const ctrl = new AbortController();
  const res = await fetch(`${sys.url}/api/jobs/stream`, { headers: bearer, signal: ctrl.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  const read = async (until: (t: string) => boolean) => {
    const deadline = Date.now() + 15_000;
    while (!until(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  };
  await read((t) => t.includes('event: ready'));
  await bus.publish([
    {
      type: 'finished',
      run_id: 'sse-leak',
      job_id: 'dyn_job',
      run: { status: 'failed', error_message: `refused ${SIGNED}`, result: { token: 'tok-SECRET' } },
    },
    {
      type: 'log',
      run_id: 'sse-leak',
      job_id: 'dyn_job',
      run: {},
      logs: [{ time: new Date().toISOString(), level: 'info', message: `got ${SIGNED}` }],
    },
  ]);
  await read((t) => t.includes('event: log') && t.includes('sse-leak'));
  ctrl.abort();
  await redis.quit();
  expect(text).toContain('refused https://provider.example.com/rec/CA9.mp3?…');
  expect(text).toContain('got https://provider.example.com/rec/CA9.mp3?…');
  expect(text).toContain('"token":"[redacted]"');
  expect(text).not.toContain('SIGSECRET');
  expect(text).not.toContain('tok-SECRET');
});

it('keeps the first 20 lines of a 40-line stack a processor threw', async () => {
  const { run_id } = await sys.service.enqueueDynamic('deep_job', {});
  await waitFor(async () => (await sys.store.get(run_id))?.status === 'failed');
  const last = thrown.at(-1)!.split('\n');
  expect(last).toHaveLength(40);
  const res = await request(sys.url).get(`/api/jobs/runs/${run_id}`).set(bearer);
  const stack = (res.body.run as JobRun).error_stack!.split('\n');
  expect(stack).toHaveLength(20);
  expect(stack).toEqual(last.slice(0, 20));
  expect(stack[0]).toBe('Error: deep failure');
  expect((await sys.store.get(run_id))?.error_stack).toBe(last.slice(0, 20).join('\n'));
});
