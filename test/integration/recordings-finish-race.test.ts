import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { waitFor } from '../helpers/redis';
import type { TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

let sys: TestSystem;
let provider: FakeProvider;
beforeAll(async () => {
  provider = await startProvider('127.0.0.1');
  sys = await startRecordingSystem();
});
afterAll(async () => {
  await sys.cleanup();
  await provider.close();
});

/** The download jobs BullMQ holds for a call (every generation). */
async function downloadJobs(callSid: string): Promise<string[]> {
  const jobs = await sys.queues.get('recordings').getJobs(undefined, 0, -1);
  return jobs.map((j) => j.id ?? '').filter((id) => id.startsWith(`rdl-${callSid}-`));
}

// Found by bench:polling-storm (split topology): a poll that looked for the file just before the worker
// committed it, then read the run once it was recorded completed, took "completed but no file" for a file
// lost to retention and downloaded the recording a second time.
it('a poll racing the download finish serves the file and does not download it again', async () => {
  const sid = 'CAfinishrace';
  provider.set(`/rec/${sid}`, { kind: 'file', body: audioBytes(2048), contentType: 'audio/wav' });
  await putUrl(sys, sid, provider.url(`/rec/${sid}`));
  await waitFor(
    async () => ((await rawGet(sys.url, `/api/recordings/file/${sid}`)).status === 200 ? true : null),
    30_000,
    100,
  );
  await waitFor(
    async () => ((await sys.service.findRun(`rdl-${sid}-1`))?.status === 'completed' ? true : null),
    30_000,
    50,
  );

  // The first look at the disk happens just before the file lands there.
  jest.spyOn(sys.recordings.files, 'find').mockResolvedValueOnce(null);
  const answer = await sys.recordings.service.getFile(sid, null);

  expect(answer.kind).toBe('file');
  expect(await downloadJobs(sid)).toEqual([`rdl-${sid}-1`]);
});
