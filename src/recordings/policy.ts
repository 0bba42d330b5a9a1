import type { JobRun } from '../monitor/run';
import { isRunStuck } from './stuck';

/** Error message prefix of a download the provider answered 404 to (the recording does not exist). */
export const PROVIDER_NOT_FOUND = 'provider_not_found';

/** Limits of the fail-fast policy (from the config). */
export interface PolicyLimits {
  timeoutSeconds: number;
  maxAttempts: number;
}

/** What the policy sees for one call (the file was checked before: it is not there). */
export interface CallState {
  url: string | null;
  /** Current download generation (0 = never downloaded). */
  generation: number;
  /** The current generation's run, or null when the store has none (yet). */
  run: Pick<JobRun, 'status' | 'created_at' | 'started_at' | 'error_message'> | null;
  /** Recovery attempts counted in the current window. */
  attempts: number;
}

/** The next step for a request whose file is not ready. */
export type Decision =
  | { kind: 'not_found' }
  | { kind: 'offline' }
  /** Enqueue the download of `generation` (idempotent: its run id is deterministic). */
  | { kind: 'enqueue'; generation: number }
  /** Move to the next generation; `count` = it is a recovery attempt; `failReason` = mark the run failed. */
  | { kind: 'advance'; count: boolean; failReason: string | null }
  | { kind: 'wait'; status: 'queued' | 'running' };

/**
 * The fail-fast rules (pure). No URL → not_found. Too many recoveries in the window → offline (500) and
 * nothing is enqueued. No download yet → start one. A stuck run is failed and retried as a counted
 * attempt; so is a download that failed for another reason, except a provider 404 (→ not_found). A
 * finished run whose file is gone (retention) starts a new download without counting.
 */
export function decide(state: CallState, now: number, limits: PolicyLimits): Decision {
  if (!state.url) return { kind: 'not_found' };
  if (state.attempts > limits.maxAttempts) return { kind: 'offline' };
  if (state.generation === 0) return { kind: 'advance', count: false, failReason: null };
  const run = state.run;
  if (!run) return { kind: 'enqueue', generation: state.generation };
  if (run.status === 'pending' || run.status === 'running') {
    const verdict = isRunStuck(run, now, limits.timeoutSeconds);
    if (verdict.stuck) return { kind: 'advance', count: true, failReason: verdict.reason };
    return { kind: 'wait', status: run.status === 'pending' ? 'queued' : 'running' };
  }
  if (run.status === 'failed') {
    if (run.error_message?.startsWith(PROVIDER_NOT_FOUND)) return { kind: 'not_found' };
    return { kind: 'advance', count: true, failReason: null };
  }
  // completed or skipped, but the file is not there (deleted by retention, or a superseded run).
  return { kind: 'advance', count: false, failReason: null };
}
