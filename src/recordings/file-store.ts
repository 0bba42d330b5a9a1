import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CALL_SID } from './call-sid';

/** What is known about a stored recording (kept next to it as `<call_sid>.meta.json`). */
export interface RecordingMeta {
  content_type: string;
  size: number;
  /** Hex SHA-256 of the bytes; the strong ETag derives from it. */
  sha256: string;
  downloaded_at: string;
  /** The download generation that stored it (absent in files stored before it was recorded). */
  generation?: number;
}

/** A stored recording ready to be served. */
export interface StoredRecording {
  path: string;
  size: number;
  mtimeMs: number;
  contentType: string;
  etag: string;
}

const TMP_PREFIX = '.tmp-';

/** True for a file-system error that means "not there" (as opposed to a disk or permission problem). */
function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The recordings folder. A recording is `<call_sid>.audio` plus `<call_sid>.meta.json`; downloads write
 * `.tmp-*` files and rename them into place, so a reader sees either no file or the whole file.
 */
export class RecordingFiles {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Path of a call's recording; the call_sid is re-checked so no input can leave the folder. */
  audioPath(callSid: string): string {
    if (!CALL_SID.test(callSid)) throw new Error('invalid call_sid');
    return join(this.dir, `${callSid}.audio`);
  }

  metaPath(callSid: string): string {
    return join(this.dir, `${callSid}.meta.json`);
  }

  /** The finished recording, or null when there is none (yet). */
  async find(callSid: string): Promise<StoredRecording | null> {
    const path = this.audioPath(callSid);
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err; // not "no file": a disk or permission problem must not look like one (and start downloads)
    }
    if (!st.isFile()) return null;
    let meta: Partial<RecordingMeta> = {};
    try {
      meta = JSON.parse(await readFile(this.metaPath(callSid), 'utf8')) as RecordingMeta;
    } catch {
      // No meta: serve as bytes with a size/time ETag.
    }
    const etag = meta.sha256
      ? `"${meta.sha256.slice(0, 32)}"`
      : `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    return {
      path,
      size: st.size,
      mtimeMs: st.mtimeMs,
      contentType: meta.content_type ?? 'application/octet-stream',
      etag,
    };
  }

  /**
   * Names a fresh temporary file in the folder (same filesystem, so the final rename is atomic); `open()`
   * creates it when the bytes start, so no file stream exists before a consumer listens to its errors.
   */
  async openTemp(callSid: string): Promise<{ path: string; open: () => WriteStream }> {
    await this.init();
    const path = join(this.dir, `${TMP_PREFIX}${callSid}-${randomBytes(6).toString('hex')}`);
    return { path, open: () => createWriteStream(path, { flags: 'wx' }) };
  }

  /** Moves a complete temporary file into place: meta first, then the audio (readers key on the audio). */
  async commit(callSid: string, tmpPath: string, meta: RecordingMeta): Promise<void> {
    const metaTmp = `${tmpPath}.meta`;
    await writeFile(metaTmp, JSON.stringify(meta));
    await rename(metaTmp, this.metaPath(callSid));
    await rename(tmpPath, this.audioPath(callSid));
  }

  async discard(tmpPath: string): Promise<void> {
    await rm(tmpPath, { force: true });
  }

  /** Deletes a call's recording (a new URL was registered). */
  async remove(callSid: string): Promise<void> {
    await rm(this.audioPath(callSid), { force: true });
    await rm(this.metaPath(callSid), { force: true });
  }

  /**
   * Deletes a call's recording only if it is still the one download `generation` stored (a newer
   * generation's file is left alone; so is a file stored before generations were recorded, whose meta
   * can't tell). Returns true when it removed it.
   */
  async removeIfGeneration(callSid: string, generation: number): Promise<boolean> {
    let meta: Partial<RecordingMeta>;
    try {
      meta = JSON.parse(await readFile(this.metaPath(callSid), 'utf8')) as RecordingMeta;
    } catch {
      return false;
    }
    if (meta.generation !== generation) return false;
    await this.remove(callSid);
    return true;
  }

  /**
   * Deletes recordings older than `maxAgeMs` (by modification time) and temporary files older than
   * `tmpMaxAgeMs` (left by killed workers). Returns what was removed.
   */
  async deleteOlderThan(
    maxAgeMs: number,
    now: number,
    tmpMaxAgeMs = 24 * 3600_000,
  ): Promise<{ recordings: number; temp: number }> {
    const out = { recordings: 0, temp: 0 };
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isAbsent(err)) return out; // nothing stored yet
      throw err; // the cleanup run fails, with the reason, instead of reporting nothing to sweep
    }
    for (const name of names) {
      const path = join(this.dir, name);
      const isTmp = name.startsWith(TMP_PREFIX);
      const m = /^([A-Za-z0-9_-]{1,64})\.audio$/.exec(name);
      if (!isTmp && !m) continue;
      const st = await stat(path).catch(() => null);
      if (!st?.isFile()) continue;
      const age = now - st.mtimeMs;
      if (isTmp && age > tmpMaxAgeMs) {
        await rm(path, { force: true });
        out.temp++;
      } else if (m && age > maxAgeMs) {
        await this.remove(m[1]);
        out.recordings++;
      }
    }
    return out;
  }
}
