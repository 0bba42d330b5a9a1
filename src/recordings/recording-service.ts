import type { Logger } from 'pino';
import {
  AppError,
  invalidRecordingUrl,
  jobAlreadyRunning,
  recordingDownloadFailed,
  recordingDownloadsPaused,
  recordingNotFound,
  recordingUrlNotAllowed,
  workerNotProcessingQueue,
} from '../monitor/errors';
import type { JobsService } from '../monitor/jobs-service';
import { ACTIVE_STATUSES, type JobRun } from '../monitor/run';
import { AddressNotAllowedError, AddressPolicy } from './address-policy';
import { downloadRunId, parseDownloadRunId } from './call-sid';
import type { RecordingFiles, StoredRecording } from './file-store';
import { decide, type PolicyLimits } from './policy';
import { isHttpUrl, type RecordingSource, type WritableRecordingSource } from './recording-source';
import type { RecordingState } from './recording-state';
import { describeStuck, stuckVerdict } from '../monitor/stuck-rules';

/** The job id of downloads in config/jobs.yml. */
export const DOWNLOAD_JOB_ID = 'recording_download';

/** Answer to "give me the file": the file, or "being prepared" with how long to wait. */
export type FileAnswer =
  | { kind: 'file'; file: StoredRecording }
  | {
      kind: 'preparing';
      status: 'queued' | 'running';
      /** Recovery attempts used in the current window (0 before any recovery). */
      attempt: number;
      max_attempts: number;
      retry_after: number;
    };

export interface RecordingServiceOptions extends PolicyLimits {
  retryAfterSeconds: number;
  recoveryRetryAfterSeconds: number;
  /** Which addresses downloads may reach (RECORDING_ALLOWED_HOSTS); PUT refuses what it can tell at once. */
  addresses?: AddressPolicy;
  now?: () => number;
}

/**
 * The recordings use cases: register a URL, answer a file request by the fail-fast contract, and clean
 * up stuck downloads. Shared by the HTTP routes and the scheduled cleanup job.
 */
export class RecordingService {
  private readonly now: () => number;

  constructor(
    private readonly jobs: JobsService,
    private readonly source: RecordingSource,
    private readonly state: RecordingState,
    private readonly files: RecordingFiles,
    private readonly opts: RecordingServiceOptions,
    private readonly logger: Logger,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Whether {@link setUrl} can register URLs: false when a host application supplies a read-only
   * {@link RecordingSource} (its own calls table). The HTTP edge refuses the PUT then (405).
   */
  get acceptsUrls(): boolean {
    return typeof (this.source as Partial<WritableRecordingSource>).setRecordingUrl === 'function';
  }

  /**
   * Registers or replaces a call's recording URL. A changed URL forgets the call's attempts, deletes its
   * old file and supersedes any download of the old URL. Only while {@link acceptsUrls} (else it throws a
   * plain Error: the caller should have asked). @throws invalid_recording_url, recording_url_not_allowed
   * (another scheme, credentials, a literal private or loopback IP)
   */
  async setUrl(callSid: string, url: unknown): Promise<{ call_sid: string; changed: boolean }> {
    if (typeof url === 'string' && URL.canParse(url)) {
      try {
        (this.opts.addresses ?? new AddressPolicy()).checkUrl(url);
      } catch (err) {
        if (err instanceof AddressNotAllowedError) throw recordingUrlNotAllowed(err.reason);
        throw err;
      }
    }
    if (!isHttpUrl(url)) throw invalidRecordingUrl();
    if (!this.acceptsUrls)
      throw new Error('the recording source is read-only: check acceptsUrls before setUrl');
    const prev = await (this.source as WritableRecordingSource).setRecordingUrl(callSid, url);
    const changed = prev !== null && prev !== url;
    if (changed) {
      await this.state.reset(callSid);
      await this.files.remove(callSid);
    }
    this.logger.info({ call_sid: callSid, changed }, 'recording_url_set');
    return { call_sid: callSid, changed };
  }

  /**
   * The file, or how long to wait for it. The first request enqueues the download; a stuck or failed one
   * is recovered (counted) up to max attempts per window. @throws recording_not_found (404),
   * worker_not_processing_queue (500), recording_download_failed (500: the provider or URL failed for good),
   * recording_downloads_paused (500: an operator paused recording_download and a download would have to start;
   * nothing is enqueued and no attempt is counted).
   */
  async getFile(
    callSid: string,
    userId: string | null,
    triggeredBy: string | null = null,
  ): Promise<FileAnswer> {
    const file = await this.files.find(callSid);
    if (file) return { kind: 'file', file };
    const url = await this.source.getRecordingUrl(callSid);
    const max = this.opts.maxAttempts;
    for (let round = 0; round < 4; round++) {
      const { generation, attempts } = await this.state.read(callSid);
      const looked = !!url && attempts <= max && generation > 0;
      const run = looked ? await this.jobs.findRun(downloadRunId(callSid, generation)) : null;
      const d = decide({ url, generation, run, attempts }, this.now(), this.opts);
      switch (d.kind) {
        case 'not_found':
          throw recordingNotFound();
        case 'offline':
          throw workerNotProcessingQueue(max);
        case 'failed':
          throw recordingDownloadFailed(d.reason, d.detail);
        case 'wait':
          return this.preparing(d.status, attempts);
        case 'enqueue':
          await this.assertNotPaused();
          await this.enqueue(callSid, url!, d.generation, userId, { triggered_by: triggeredBy });
          return this.preparing('queued', attempts);
        case 'advance': {
          // A run that finished after our look at the disk may have written its file since: serve it
          // rather than take "finished, no file" for a file lost to retention and download it again.
          if (run && !d.count && !d.failReason) {
            const late = await this.files.find(callSid);
            if (late) return { kind: 'file', file: late };
          }
          await this.assertNotPaused();
          const r = await this.state.advance(callSid, generation, d.count);
          if (r.outcome === 'lost') continue;
          if (d.failReason && run) {
            await this.jobs.markRunFailed(run, d.failReason);
            this.logger.warn(
              { call_sid: callSid, run_id: run.run_id, reason: d.failReason },
              'recording_run_stuck',
            );
          }
          if (r.outcome === 'exhausted') {
            this.logger.error(
              {
                call_sid: callSid,
                attempts: r.attempts,
                max_attempts: max,
                detail: `attempt ${r.attempts}/${max}`,
              },
              'recording_worker_not_processing_queue',
            );
            throw workerNotProcessingQueue(max);
          }
          if (d.count) {
            this.logger.warn(
              {
                call_sid: callSid,
                attempt: r.attempts,
                max_attempts: max,
                detail: `attempt ${r.attempts}/${max}`,
              },
              'recording_recovery_attempt',
            );
          }
          await this.enqueue(callSid, url!, r.generation, userId, { triggered_by: triggeredBy });
          return this.preparing('queued', r.attempts);
        }
      }
    }
    return this.preparing('queued', (await this.state.read(callSid)).attempts);
  }

  /** Marks every stuck download run failed (the scheduled recordings_stuck_cleanup job); returns their ids. */
  async cleanupStuckRecordingJobs(): Promise<string[]> {
    const failed: string[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await this.jobs.listRuns({
        job_id: DOWNLOAD_JOB_ID,
        status: [...ACTIVE_STATUSES],
        limit: 200,
        cursor,
      });
      for (const run of page.runs) {
        const stuck = stuckVerdict(run, this.now(), this.opts.timeoutSeconds * 1000);
        if (!stuck) continue;
        const reason = describeStuck(stuck);
        await this.jobs.markRunFailed(run, reason);
        this.logger.warn({ run_id: run.run_id, reason }, 'recording_run_stuck');
        failed.push(run.run_id);
      }
      // A store must never hand back a cursor it gave before (that would page forever); stop if one does.
      if (page.next_cursor && seen.has(page.next_cursor)) {
        this.logger.error({ cursor: page.next_cursor }, 'recording_cleanup_cursor_repeated');
        break;
      }
      cursor = page.next_cursor;
      if (cursor) seen.add(cursor);
    } while (cursor);
    return failed;
  }

  /**
   * An operator's retry of a failed download (`POST /api/jobs/runs/{id}/retry`; JobsService has checked the
   * pause and that the run was not retried before): the call gets a fresh retry window (its attempts are
   * forgotten) and a new download generation, so the player's next request sees 202 again and then the file.
   * A download of the call that is already waiting or running (the player's own recovery, another retry) is
   * kept: 409 job_already_running with its run id (cancel it first to start over).
   * @throws recording_not_found when the call no longer has a recording URL; job_already_running.
   */
  async retryDownload(run: JobRun, by: { triggered_by: string | null }): Promise<{ run_id: string }> {
    const parsed = parseDownloadRunId(run.run_id);
    if (!parsed) throw recordingNotFound();
    const url = await this.source.getRecordingUrl(parsed.callSid);
    if (!url) throw recordingNotFound();
    const current = await this.state.generation(parsed.callSid);
    if (current > 0) {
      const active = await this.jobs.findRun(downloadRunId(parsed.callSid, current));
      if (active && ACTIVE_STATUSES.includes(active.status))
        throw jobAlreadyRunning(DOWNLOAD_JOB_ID, active.run_id);
    }
    const moved = await this.state.restart(parsed.callSid, current);
    // Another request moved the call meanwhile: its download is the one running now.
    if (moved.outcome === 'lost')
      throw jobAlreadyRunning(DOWNLOAD_JOB_ID, downloadRunId(parsed.callSid, moved.generation));
    const generation = moved.generation;
    const res = await this.enqueue(parsed.callSid, url, generation, run.user_id, {
      retry_of: run.run_id,
      triggered_by: by.triggered_by,
    });
    this.logger.info(
      { call_sid: parsed.callSid, run_id: res.run_id, retry_of: run.run_id },
      'recording_download_retried',
    );
    return { run_id: res.run_id };
  }

  /** @throws recording_downloads_paused while an operator has paused recording_download. */
  private async assertNotPaused(): Promise<void> {
    if ((await this.jobs.pauseOf(DOWNLOAD_JOB_ID)).paused) throw recordingDownloadsPaused();
  }

  private async enqueue(
    callSid: string,
    url: string,
    generation: number,
    userId: string | null,
    extra: { retry_of?: string; triggered_by?: string | null } = {},
  ) {
    const runId = downloadRunId(callSid, generation);
    const res = await this.jobs
      .enqueueDynamic(
        DOWNLOAD_JOB_ID,
        { call_sid: callSid, url, generation },
        { user_id: userId, runId, ...extra },
      )
      .catch((err) => {
        // Paused between our check and the enqueue: the same answer as the check's.
        if (err instanceof AppError && err.code === 'job_paused' && !extra.retry_of)
          throw recordingDownloadsPaused();
        throw err;
      });
    this.logger.info({ call_sid: callSid, run_id: res.run_id, generation }, 'recording_download_enqueued');
    return res;
  }

  private preparing(status: 'queued' | 'running', attempt: number): FileAnswer {
    return {
      kind: 'preparing',
      status,
      attempt,
      max_attempts: this.opts.maxAttempts,
      retry_after: attempt > 0 ? this.opts.recoveryRetryAfterSeconds : this.opts.retryAfterSeconds,
    };
  }
}
