import { invalidCallSid } from '../monitor/errors';

/** A call id as providers issue them: letters, digits, `_` and `-`, 1 to 64 characters. */
export const CALL_SID = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a call_sid from a path or query. @throws 400 `invalid_call_sid`. */
export function parseCallSid(value: unknown): string {
  if (typeof value !== 'string' || !CALL_SID.test(value)) throw invalidCallSid();
  return value;
}

/** The run id (= BullMQ job id) of a call's n-th download; deterministic so concurrent adds collapse. */
export function downloadRunId(callSid: string, generation: number): string {
  return `rdl-${callSid}-${generation}`;
}

/** The inverse of {@link downloadRunId}; null for other ids. */
export function parseDownloadRunId(runId: string): { callSid: string; generation: number } | null {
  const m = /^rdl-([A-Za-z0-9_-]{1,64})-(\d+)$/.exec(runId);
  return m ? { callSid: m[1], generation: Number(m[2]) } : null;
}
