import { downloadRunId } from '../../src/recordings/call-sid';
import { waitForRecording } from '../../src/recordings/client';
import { json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { testRedis, waitFor } from '../helpers/redis';
import { TEST_TOKEN, type TestSystem } from '../helpers/system';
import { RedisKeys } from '../../src/queues/redis-keys';

jest.setTimeout(120_000);

// API role only: no worker ever takes a download. Timeouts lowered to seconds.
let sys: TestSystem;
beforeAll(async () => {
  sys = await startRecordingSystem({
    ROLES: 'api',
    RECORDING_JOB_TIMEOUT_SECONDS: '1',
    RECORDING_RETRY_WINDOW_SECONDS: '120',
    RECORDING_RETRY_AFTER_SECONDS: '1',
    RECORDING_RECOVERY_RETRY_AFTER_SECONDS: '2',
  });
});
afterAll(() => sys.cleanup());

const fileUrl = (sid: string) => `/api/recordings/file/${sid}`;

async function downloadJobs(sid: string): Promise<string[]> {
  const jobs = await sys.queues.get('recordings').getJobs(undefined, 0, 1000);
  return jobs
    .map((j) => j.id!)
    .filter((id) => id.startsWith(`rdl-${sid}-`))
    .sort();
}

describe('fail-fast with no worker', () => {
  it('answers 202 … then 500 worker_not_processing_queue after 3 recoveries; exactly 4 jobs, no more after', async () => {
    await putUrl(sys, 'CAoff', 'http://127.0.0.1:9/never.wav');
    const seen: { status: number; body: Record<string, unknown>; retryAfter: string | null }[] = [];
    await waitFor(
      async () => {
        const r = await rawGet(sys.url, fileUrl('CAoff'));
        seen.push({ status: r.status, body: json(r), retryAfter: r.headers.get('retry-after') });
        return r.status !== 202;
      },
      90_000,
      250,
    );
    const statuses = seen.map((s) => s.status);
    // 202 … 202, then 500 as the final answer.
    expect(statuses.slice(0, -1).every((s) => s === 202)).toBe(true);
    expect(seen.at(-1)).toMatchObject({
      status: 500,
      body: { error: 'worker_not_processing_queue', attempts: 3 },
    });
    // The attempt counter climbed 0 → 3 and the Retry-After went from 1 to 2 after the first recovery.
    const attempts = [...new Set(seen.filter((s) => s.status === 202).map((s) => s.body.attempt))];
    expect(attempts).toEqual([0, 1, 2, 3]);
    expect(seen.find((s) => s.body.attempt === 0)?.retryAfter).toBe('1');
    expect(seen.find((s) => s.body.attempt === 2)?.retryAfter).toBe('2');

    const expected = [1, 2, 3, 4].map((g) => downloadRunId('CAoff', g));
    expect(await downloadJobs('CAoff')).toEqual(expected);
    for (let i = 0; i < 5; i++) {
      const r = await rawGet(sys.url, fileUrl('CAoff'));
      expect(r.status).toBe(500);
    }
    expect(await downloadJobs('CAoff')).toEqual(expected);

    // Every stuck run was marked failed with its reason; job_runs holds exactly the 4.
    const runs = (await sys.service.listRuns({ job_id: 'recording_download', limit: 200 })).runs.filter((r) =>
      r.run_id.startsWith('rdl-CAoff-'),
    );
    expect(runs.map((r) => r.run_id).sort()).toEqual(expected);
    for (const run of runs) {
      expect(run.status).toBe('failed');
      expect(run.error_message).toMatch(/^queued \d+ s without worker pickup$/);
    }
    // The counter lives in Redis with the window's TTL.
    const redis = testRedis();
    const key = new RedisKeys(sys.prefix).recordingRetryAttempts('CAoff');
    expect(Number(await redis.get(key))).toBeGreaterThanOrEqual(4);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120);
    // When the window expires, the call gets one new chance.
    await redis.del(key);
    await redis.quit();
    const fresh = await rawGet(sys.url, fileUrl('CAoff'));
    expect(fresh.status).toBe(202);
    expect(json(fresh)).toMatchObject({ attempt: 1 });
    expect(await downloadJobs('CAoff')).toHaveLength(5);
    // The log tells each attempt as N/3.
    const details = sys.logs.lines
      .filter((l) => l.msg === 'recording_recovery_attempt' && l.call_sid === 'CAoff')
      .map((l) => l.detail);
    expect(details.slice(0, 3)).toEqual(['attempt 1/3', 'attempt 2/3', 'attempt 3/3']);
  });

  it('cleanupStuckRecordingJobs marks a stuck download run failed', async () => {
    await putUrl(sys, 'CAclean', 'http://127.0.0.1:9/never.wav');
    expect((await rawGet(sys.url, fileUrl('CAclean'))).status).toBe(202);
    const runId = downloadRunId('CAclean', 1);
    const stuck = await waitFor(
      async () => {
        const ids = await sys.recordings.service.cleanupStuckRecordingJobs();
        return ids.includes(runId);
      },
      20_000,
      300,
    );
    expect(stuck).toBe(true);
    expect(await sys.service.findRun(runId)).toMatchObject({ status: 'failed' });
  });
});

describe('waitForRecording (typed client)', () => {
  it('returns not_found at once for a call with no recording URL', async () => {
    const statuses: number[] = [];
    const res = await waitForRecording(sys.url, 'CAnothing', {
      token: TEST_TOKEN,
      onStatus: (s) => statuses.push(s),
    });
    expect(res).toEqual({
      ready: false,
      errorType: 'not_found',
      message: 'No recording exists for this call',
    });
    expect(statuses).toEqual([404]);
  });

  it('returns worker_offline and stops at the first 500', async () => {
    await putUrl(sys, 'CAclient', 'http://127.0.0.1:9/never.wav');
    const statuses: number[] = [];
    const res = await waitForRecording(sys.url, 'CAclient', {
      token: TEST_TOKEN,
      timeoutMs: 90_000,
      onStatus: (s) => statuses.push(s),
    });
    expect(res).toMatchObject({ ready: false, errorType: 'worker_offline' });
    expect((res as { message: string }).message).toMatch(/not responding/);
    expect(statuses.at(-1)).toBe(500);
    expect(statuses.slice(0, -1).every((s) => s === 202)).toBe(true);
    expect(statuses.filter((s) => s === 500)).toHaveLength(1);
  });

  it('returns timeout with the seconds waited when the recording is still being prepared', async () => {
    await putUrl(sys, 'CAslow', 'http://127.0.0.1:9/never.wav');
    const statuses: number[] = [];
    const res = await waitForRecording(sys.url, 'CAslow', {
      token: TEST_TOKEN,
      timeoutMs: 1500,
      onStatus: (s) => statuses.push(s),
    });
    expect(res).toMatchObject({ ready: false, errorType: 'timeout' });
    expect((res as { message: string }).message).toMatch(
      /^The recording is still being prepared \(waited \d+ s\); this can take up to 3 minutes$/,
    );
    expect(statuses.every((s) => s === 202)).toBe(true);
  });
});
