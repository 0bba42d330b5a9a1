import { UnrecoverableError } from 'bullmq';
import type { Processor } from '../workers/processor-context';
import { DownloadError, type DownloadLimits, download, safeUrl } from './download';
import type { RecordingFiles } from './file-store';
import type { RecordingState } from './recording-state';

/** Payload of a `recording_download` job. */
export interface DownloadPayload {
  call_sid: string;
  url: string;
  generation: number;
}

export interface RecordingProcessorDeps {
  files: RecordingFiles;
  state: RecordingState;
  limits: DownloadLimits;
  /** RECORDINGS_RETENTION_DAYS in ms. */
  retentionMs: number;
  /**
   * The call's recording URL now (the RecordingSource). A download superseded while it stored its file
   * keeps the file when the URL is still its own (a recovery of the same recording), and removes it only
   * when the URL changed. Without it every superseded file is removed.
   */
  currentUrl?: (callSid: string) => Promise<string | null>;
  /** cleanupStuckRecordingJobs of the RecordingService: marks stuck runs failed, returns their ids. */
  cleanupStuck: () => Promise<string[]>;
  now?: () => number;
}

/**
 * `recording_download`: streams the provider URL to a temporary file and renames it into place.
 * A download superseded by a newer generation (a recovery, or a new URL) before it stores its file is
 * skipped. Superseded while storing, it keeps the file if the call's URL is still the one it downloaded
 * (a recovery of the same recording: a player may already have been served it, and the newer generation
 * answers "already downloaded"), else removes it, if it is still its own; provider 404, other
 * 4xx, the size limit, a bad redirect and an address not allowed fail at once (UnrecoverableError); 5xx,
 * timeouts and the download deadline are retried by BullMQ.
 */
export function recordingDownload(deps: RecordingProcessorDeps): Processor<DownloadPayload> {
  return async (ctx) => {
    const { call_sid: callSid, url, generation } = ctx.data;
    const superseded = async () => (await deps.state.generation(callSid)) > generation;
    if (await superseded()) {
      ctx.log(`superseded: a newer download of ${callSid} exists`, 'warn');
      return { skipped: true, reason: 'superseded' };
    }
    if (await deps.files.find(callSid)) {
      ctx.log('already downloaded');
      return { call_sid: callSid, cached: true };
    }
    ctx.log(`downloading ${callSid} from ${safeUrl(url)} (attempt ${ctx.attempt})`);
    const tmp = await deps.files.openTemp(callSid);
    try {
      const res = await download(
        url,
        tmp.open,
        deps.limits,
        // progress() logs its own failed write (bullmq_progress_failed); a report must not fail the download.
        (received, total) => void ctx.progress(received, total ?? received).catch(() => undefined),
        ctx.signal,
      );
      if (await superseded()) {
        await deps.files.discard(tmp.path);
        ctx.log('superseded while downloading; file discarded', 'warn');
        return { skipped: true, reason: 'superseded' };
      }
      await deps.files.commit(callSid, tmp.path, {
        content_type: res.contentType,
        size: res.size,
        sha256: res.sha256,
        downloaded_at: new Date().toISOString(),
        generation,
      });
      // The URL may have changed between the check above and the rename: never leave the old audio in
      // place. A recovery of the same URL meanwhile is no reason to take back a file that may be served.
      if (await superseded()) {
        if (await urlChanged(deps, callSid, url, ctx)) {
          const removed = await deps.files.removeIfGeneration(callSid, generation);
          ctx.log(
            removed
              ? 'superseded by a new URL while storing; file removed'
              : "superseded by a new URL while storing; the newer download's file is left",
            'warn',
          );
          return { skipped: true, reason: 'superseded' };
        }
        ctx.log('a newer download of the same URL was queued meanwhile; the stored file is kept');
      }
      await ctx.progress(res.size, res.size);
      ctx.log(`stored ${res.size} bytes (${res.contentType})`);
      return { call_sid: callSid, bytes: res.size, content_type: res.contentType };
    } catch (err) {
      // download() has destroyed and closed the file stream; remove what it wrote.
      await deps.files.discard(tmp.path);
      if (err instanceof DownloadError && !err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}

/** True unless the call's URL is still `url` (a failed lookup counts as changed: old audio must not stay). */
async function urlChanged(
  deps: RecordingProcessorDeps,
  callSid: string,
  url: string,
  ctx: Parameters<Processor<DownloadPayload>>[0],
): Promise<boolean> {
  if (!deps.currentUrl) return true;
  try {
    return (await deps.currentUrl(callSid)) !== url;
  } catch (err) {
    ctx.logger.warn({ err, call_sid: callSid }, 'recording_url_lookup_failed');
    return true;
  }
}

/** `recordings_stuck_cleanup`: marks stuck download runs failed (see cleanupStuckRecordingJobs). */
export function recordingsStuckCleanup(deps: RecordingProcessorDeps): Processor {
  return async (ctx) => {
    const failed = await deps.cleanupStuck();
    ctx.log(`marked ${failed.length} stuck download runs failed`);
    return { failed: failed.length, run_ids: failed.slice(0, 50) };
  };
}

/** `recordings_retention`: deletes recordings older than RECORDINGS_RETENTION_DAYS and stale temp files. */
export function recordingsRetention(deps: RecordingProcessorDeps): Processor {
  return async (ctx) => {
    const removed = await deps.files.deleteOlderThan(deps.retentionMs, (deps.now ?? Date.now)());
    ctx.log(`deleted ${removed.recordings} recordings and ${removed.temp} temporary files`);
    return removed;
  };
}

/** The recordings processors by callback_name. */
export function recordingProcessors(deps: RecordingProcessorDeps): Record<string, Processor<never>> {
  return {
    recordingDownload: recordingDownload(deps) as Processor<never>,
    recordingsStuckCleanup: recordingsStuckCleanup(deps) as Processor<never>,
    recordingsRetention: recordingsRetention(deps) as Processor<never>,
  };
}
