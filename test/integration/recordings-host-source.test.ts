/**
 * A host application's read-only RecordingSource: the PUT is refused at the HTTP edge (405
 * recording_source_read_only) and the file route still looks URLs up in the host's source.
 */
import { auth, JOBS_YML, tempRecordingsDir } from '../helpers/recordings';
import { startTestSystem, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

let sys: TestSystem;
const looked: string[] = [];
beforeAll(async () => {
  sys = await startTestSystem(
    { RECORDINGS_DIR: tempRecordingsDir(), ROLES: 'api' },
    {
      jobsYml: JOBS_YML,
      recordings: {
        source: {
          async getRecordingUrl(callSid: string) {
            looked.push(callSid);
            return null;
          },
        },
      },
    },
  );
});
afterAll(() => sys.cleanup());

it('refuses PUT with 405 recording_source_read_only, and reads URLs from the host source', async () => {
  const put = await fetch(`${sys.url}/api/recordings/CAhost1`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ recording_url: 'https://example.com/a.mp3' }),
  });
  expect(put.status).toBe(405);
  expect(await put.json()).toMatchObject({ error: 'recording_source_read_only' });

  const get = await fetch(`${sys.url}/api/recordings/file/CAhost1`, { headers: auth });
  expect(get.status).toBe(404);
  expect(looked).toContain('CAhost1');
});
