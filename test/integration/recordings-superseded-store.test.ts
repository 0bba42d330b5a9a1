/**
 * Issue 11 item 14, the product side: a download superseded while it stores its file. A recovery of the
 * same URL (a poll that judged the run stuck on a loaded machine, just before the file landed) must not take
 * back a file the player may already have been served (200, then 202 and a second download); a new URL must
 * still never leave the old audio in place.
 */
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
afterEach(() => jest.restoreAllMocks());
afterAll(async () => {
  await sys.cleanup();
  await provider.close();
});

const file = (sid: string) => rawGet(sys.url, `/api/recordings/file/${sid}`);
const finished = (runId: string) =>
  waitFor(async () => {
    const run = await sys.service.findRun(runId);
    return run && !['pending', 'running'].includes(run.status) ? run : null;
  }, 30_000);

/** Runs `meanwhile` inside the worker's first commit of `sid`, just before the file is renamed into place. */
function whileStoring(sid: string, meanwhile: () => Promise<void>): void {
  const files = sys.recordings.files;
  const commit = files.commit.bind(files);
  let done = false;
  jest.spyOn(files, 'commit').mockImplementation(async (callSid, tmp, meta) => {
    if (callSid === sid && !done) {
      done = true;
      await meanwhile();
    }
    await commit(callSid, tmp, meta);
  });
}

it('a recovery of the same URL while the file is stored keeps the file: 200 stays 200, no second download', async () => {
  const sid = 'CAkeep';
  const body = audioBytes(4096);
  provider.set(`/rec/${sid}`, { kind: 'file', body, contentType: 'audio/wav' });
  await putUrl(sys, sid, provider.url(`/rec/${sid}`));
  // What a poll does when it finds generation 1 stuck: the call moves to generation 2 (a counted attempt).
  whileStoring(sid, async () => {
    const r = await sys.recordings.processorDeps.state.advance(sid, 1, true);
    expect(r).toMatchObject({ outcome: 'advanced', generation: 2 });
  });
  expect((await file(sid)).status).toBe(202);
  await finished(`rdl-${sid}-1`);

  const answers = [];
  for (let i = 0; i < 5; i++) answers.push(await file(sid));
  for (const a of answers) {
    expect(a.status).toBe(200);
    expect(a.body.equals(body)).toBe(true);
  }
  expect(provider.hits(`/rec/${sid}`)).toBe(1);
  expect(await sys.service.findRun(`rdl-${sid}-1`)).toMatchObject({ status: 'completed' });
});

it('a new URL registered while the old one is stored: the old audio is removed, the new one served', async () => {
  const sid = 'CAnewurl';
  const oldBody = audioBytes(4096);
  const newBody = audioBytes(5000);
  provider.set(`/rec/${sid}-old`, { kind: 'file', body: oldBody, contentType: 'audio/wav' });
  provider.set(`/rec/${sid}-new`, { kind: 'file', body: newBody, contentType: 'audio/wav' });
  await putUrl(sys, sid, provider.url(`/rec/${sid}-old`));
  whileStoring(sid, async () => {
    expect((await putUrl(sys, sid, provider.url(`/rec/${sid}-new`))).status).toBe(200);
  });
  expect((await file(sid)).status).toBe(202);
  expect(await finished(`rdl-${sid}-1`)).toMatchObject({ status: 'skipped' });

  const served = await waitFor(
    async () => {
      const r = await file(sid);
      expect(r.status === 202 || r.body.equals(newBody)).toBe(true);
      return r.status === 200 ? r : null;
    },
    30_000,
    100,
  );
  expect(served!.body.equals(newBody)).toBe(true);
});

it('removing a superseded file touches only the file its own generation stored', async () => {
  const files = sys.recordings.files;
  const tmp = await files.openTemp('CAgen');
  await new Promise<void>((resolve, reject) => tmp.open().on('error', reject).end(audioBytes(64), resolve));
  await files.commit('CAgen', tmp.path, {
    content_type: 'audio/wav',
    size: 64,
    sha256: 'x'.repeat(64),
    downloaded_at: new Date().toISOString(),
    generation: 3,
  });
  expect(await files.removeIfGeneration('CAgen', 2)).toBe(false);
  expect(await files.find('CAgen')).not.toBeNull();
  expect(await files.removeIfGeneration('CAgen', 3)).toBe(true);
  expect(await files.find('CAgen')).toBeNull();
});
