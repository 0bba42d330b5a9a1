import type { JobRun } from '../monitor/run';

/** Verdict of {@link isRunStuck}; `reason` is empty when the run is not stuck. */
export interface StuckVerdict {
  stuck: boolean;
  reason: string;
}

/**
 * Smart stuck detection for a download run (pure; `now` in ms):
 * - pending (queued) and created more than `timeoutSeconds` ago: no worker ever took it;
 * - running and started more than `timeoutSeconds` ago: the worker died or hung;
 * - running with no started_at: an inconsistent record.
 * Finished runs are never stuck.
 */
export function isRunStuck(
  run: Pick<JobRun, 'status' | 'created_at' | 'started_at'>,
  now: number,
  timeoutSeconds = 300,
): StuckVerdict {
  const limitMs = timeoutSeconds * 1000;
  const ageMs = (iso: string) => now - Date.parse(iso);
  const secs = (ms: number) => Math.floor(ms / 1000);
  if (run.status === 'pending') {
    const age = ageMs(run.created_at);
    if (age > limitMs) return { stuck: true, reason: `queued ${secs(age)} s without worker pickup` };
    return { stuck: false, reason: '' };
  }
  if (run.status === 'running') {
    if (!run.started_at) return { stuck: true, reason: 'marked running but no started_at' };
    const age = ageMs(run.started_at);
    if (age > limitMs) return { stuck: true, reason: `running ${secs(age)} s without completion` };
  }
  return { stuck: false, reason: '' };
}
