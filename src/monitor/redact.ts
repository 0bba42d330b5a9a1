/**
 * Redaction of what a run carries before it leaves the server (the API's run answers, the live stream, the
 * dashboard): values of sensitive keys are masked, and every URL-looking string loses its query string and
 * fragment (signed URLs carry their signature there).
 */
import type { AttemptRecord, JobRun, RunLog } from './run';

/** REDACT_KEYS default. */
export const DEFAULT_REDACT_KEYS = ['url', 'token', 'password', 'secret', 'authorization'] as const;
/** What a masked value becomes. */
export const REDACTED = '[redacted]';

const MAX_DEPTH = 20;

/** `https://host/path?sig=…#x` → `https://host/path?…`; other strings unchanged. */
export function cutQuery(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]*)[?#][^\s"'<>]*/gi, '$1?…');
}

/**
 * A copy of `value` in which every property whose name is one of `keys` (case-insensitive, at any depth,
 * inside arrays too) is {@link REDACTED} and every string has URL query strings cut ({@link cutQuery}).
 * Deeper than 20 levels is replaced by REDACTED.
 */
export function redactPayload(value: unknown, keys: readonly string[] = DEFAULT_REDACT_KEYS): unknown {
  const names = new Set(keys.map((k) => k.toLowerCase()));
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return cutQuery(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return REDACTED;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = names.has(k.toLowerCase()) ? REDACTED : walk(x, depth + 1);
    }
    return out;
  };
  return walk(value, 0);
}

/** Reads a run's payload while its queue job still exists (BullMQ `Job.fromId` in src/queues). */
export interface PayloadSource {
  /** The payload, undefined when the job is gone. */
  payloadOf(run: { run_id: string; queue: string }): Promise<unknown>;
}

/** The run detail's `payload`: redacted, or null when the job no longer exists (removed by retention). */
export async function redactedPayload(
  source: PayloadSource,
  run: { run_id: string; queue: string },
  keys: readonly string[],
): Promise<unknown> {
  const payload = await source.payloadOf(run);
  return payload === undefined ? null : redactPayload(payload, keys);
}

/**
 * A run as it may leave the server: `result` redacted like a payload ({@link redactPayload}: REDACT_KEYS
 * masked, URL query strings cut; processors that echo their input would otherwise leak it), and URL query
 * strings cut from `error_message`, `error_stack`, each attempt's `error` and the log lines. Works on a
 * partial run (a live-stream change) too; fields it does not have stay absent. The stored run is unchanged.
 */
export function redactRun<T extends Partial<JobRun>>(
  run: T,
  keys: readonly string[] = DEFAULT_REDACT_KEYS,
): T {
  const out: T = { ...run };
  if (run.result !== undefined && run.result !== null) out.result = redactPayload(run.result, keys);
  if (typeof run.error_message === 'string') out.error_message = cutQuery(run.error_message);
  if (typeof run.error_stack === 'string') out.error_stack = cutQuery(run.error_stack);
  if (Array.isArray(run.attempts_log))
    out.attempts_log = run.attempts_log.map((a: AttemptRecord) =>
      typeof a.error === 'string' ? { ...a, error: cutQuery(a.error) } : a,
    );
  if (Array.isArray(run.logs)) out.logs = redactLogs(run.logs);
  return out;
}

/** Log lines with URL query strings cut from their messages. */
export function redactLogs<L extends Pick<RunLog, 'message'>>(logs: readonly L[]): L[] {
  return logs.map((l) => (typeof l.message === 'string' ? { ...l, message: cutQuery(l.message) } : l));
}
