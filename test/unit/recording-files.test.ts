/**
 * The recordings folder: "no file" only when the file is not there. Any other file-system error (a disk or
 * permission problem; here a symlink loop, which root can't bypass the way it bypasses permissions) is raised,
 * so the file route answers an error instead of downloading again and again, and the cleanup run fails with
 * the reason instead of reporting nothing to sweep.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingFiles } from '../../src/recordings/file-store';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jm-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('answers null for a call without a file, and for a folder not created yet', async () => {
  expect(await new RecordingFiles(dir).find('CA1')).toBeNull();
  const missing = new RecordingFiles(join(dir, 'not-yet'));
  expect(await missing.find('CA1')).toBeNull();
  expect(await missing.deleteOlderThan(1000, Date.now())).toEqual({ recordings: 0, temp: 0 });
});

it('raises a file-system error that is not "absent" instead of calling it no file', async () => {
  const files = new RecordingFiles(dir);
  symlinkSync('CA2.audio', join(dir, 'CA2.audio')); // points at itself: ELOOP
  await expect(files.find('CA2')).rejects.toMatchObject({ code: 'ELOOP' });
  // A folder that is a file: readdir fails with ENOTDIR, which is "nothing stored".
  writeFileSync(join(dir, 'plain'), 'x');
  expect(await new RecordingFiles(join(dir, 'plain')).deleteOlderThan(1000, Date.now())).toEqual({
    recordings: 0,
    temp: 0,
  });
  const loop = join(dir, 'loop');
  symlinkSync('loop', loop);
  await expect(new RecordingFiles(loop).deleteOlderThan(1000, Date.now())).rejects.toMatchObject({
    code: 'ELOOP',
  });
});
