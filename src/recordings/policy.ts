import type { JobRun } from '../monitor/run';
import { describeStuck, type StuckInput, stuckVerdict } from '../monitor/stuck-rules';
import { URL_NOT_ALLOWED } from './address-policy';

/** Error message prefix of a download the provider answered 404 to (the recording does not exist). */
export const PROVIDER_NOT_FOUND = 'provider_not_found';

/** Download failure codes that are final for the URL (BullMQ does not retry them). */
export const FINAL_DOWNLOAD_CODES: readonly string[] = [
  PROVIDER_NOT_FOUND,
  'provider_rejected',
  'provider_bad_redirect',
  'recording_too_large',
  URL_NOT_ALLOWED,
];

/**
 * Every code a download failure carries (a failed download run's error_message starts with `code:`).
 * A run failed with one of them failed because of the provider or the URL, after BullMQ's retries.
 */
export const DOWNLOAD_ERROR_CODES: readonly string[] = [
  ...FINAL_DOWNLOAD_CODES,
  'provider_error',
  'provider_timeout',
  'provider_reset',
  'provider_unreachable',
  'download_timeout',
];

/** The download failure code an error message starts with, or null for any other failure. */
export function downloadFailureCode(message: string | null | undefined): string | null {
  const code = /^([a-z_]+):/.exec(message ?? '')?.[1];
  return code && DOWNLOAD_ERROR_CODES.includes(code) ? code : null;
}

/** Limits of the fail-fast policy (from the config). */
export interface PolicyLimits {
  /** recording_download's stuck threshold (its `stuck_after_minutes`, from RECORDING_JOB_TIMEOUT_SECONDS). */
  timeoutSeconds: number;
  maxAttempts: number;
}

/** What the policy sees for one call (the file was checked before: it is not there). */
export interface CallState {
  url: string | null;
  /** Current download generation (0 = never downloaded). */
  generation: number;
  /** The current generation's run, or null when the store has none (yet). */
  run: (StuckInput & Pick<JobRun, 'error_message'>) | null;
  /** Recovery attempts counted in the current window. */
  attempts: number;
}

/** The next step for a request whose file is not ready. */
export type Decision =
  | { kind: 'not_found' }
  | { kind: 'offline' }
  /** The provider or the URL failed for good: answer 500 recording_download_failed with `reason`. */
  | { kind: 'failed'; reason: string; detail: string }
  /** Enqueue the download of `generation` (idempotent: its run id is deterministic). */
  | { kind: 'enqueue'; generation: number }
  /** Move to the next generation; `count` = it is a recovery attempt; `failReason` = mark the run failed. */
  | { kind: 'advance'; count: boolean; failReason: string | null }
  | { kind: 'wait'; status: 'queued' | 'running' };

/**
 * The fail-fast rules (pure). No URL → not_found. Too many recoveries in the window → offline (500) and
 * nothing is enqueued. No download yet → start one. A stuck run is failed and retried as a counted
 * attempt; so is a download that failed for another reason (worker lost, job timeout), except a provider 404
 * (→ not_found) and a provider or URL failure after BullMQ's retries (→ failed, a 500 until a new URL). A
 * finished run whose file is gone (retention) starts a new download without counting.
 */
export function decide(state: CallState, now: number, limits: PolicyLimits): Decision {
  if (!state.url) return { kind: 'not_found' };
  if (state.attempts > limits.maxAttempts) return { kind: 'offline' };
  if (state.generation === 0) return { kind: 'advance', count: false, failReason: null };
  const run = state.run;
  if (!run) return { kind: 'enqueue', generation: state.generation };
  if (run.status === 'pending' || run.status === 'running') {
    const stuck = stuckVerdict(run, now, limits.timeoutSeconds * 1000);
    if (stuck) return { kind: 'advance', count: true, failReason: describeStuck(stuck) };
    return { kind: 'wait', status: run.status === 'pending' ? 'queued' : 'running' };
  }
  if (run.status === 'failed') {
    if (run.error_message?.startsWith(PROVIDER_NOT_FOUND)) return { kind: 'not_found' };
    const code = downloadFailureCode(run.error_message);
    if (code) return { kind: 'failed', reason: code, detail: run.error_message!.slice(0, 300) };
    return { kind: 'advance', count: true, failReason: null };
  }
  // completed or skipped, but the file is not there (deleted by retention, or a superseded run).
  return { kind: 'advance', count: false, failReason: null };
}
