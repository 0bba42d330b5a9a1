import { z } from 'zod';
import { AppError, invalidQuery } from '../monitor/errors';
import { RUN_STATUSES, RUN_TRIGGERS } from '../monitor/run';
import { isRunCursor, MAX_PAGE_SIZE, type RunQuery } from '../monitor/run-store';

export const JOB_ID = /^[a-z][a-z0-9_]{0,63}$/;
export { RUN_ID } from '../monitor/run';

/** Checks a path parameter; a malformed one is 400 `invalid_<name>`. */
export function param(value: unknown, pattern: RegExp, name: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new AppError(`invalid_${name}`, 400, `${name} must match ${pattern}`);
  }
  return value;
}

const single = (schema: z.ZodType) =>
  z.preprocess((v) => (Array.isArray(v) ? Symbol('repeated') : v === '' ? undefined : v), schema);

/** An ISO date/time or epoch milliseconds, as ms. */
const date = z.string().transform((s, ctx) => {
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'expected an ISO date or epoch milliseconds' });
    return z.NEVER;
  }
  return ms;
});

const runsQuerySchema = z.strictObject({
  job_id: single(z.string().regex(JOB_ID, { error: 'expected a job id' }).optional()),
  status: single(
    z
      .string()
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(RUN_STATUSES, { error: `expected ${RUN_STATUSES.join('|')}` })))
      .optional(),
  ),
  user_id: single(z.string().max(128, { error: 'at most 128 characters' }).optional()),
  trigger: single(z.enum(RUN_TRIGGERS, { error: `expected ${RUN_TRIGGERS.join('|')}` }).optional()),
  /** #12: only runs the stuck monitor flagged (true) or not flagged (false). */
  stuck: single(
    z
      .enum(['true', 'false'], { error: 'expected true or false' })
      .transform((v) => v === 'true')
      .optional(),
  ),
  since: single(date.optional()),
  /** Exclusive upper bound of created_at (RunQuery.before). */
  until: single(date.optional()),
  /** Search text: run id, user id or a job's search_keys value (exact, case-insensitive). */
  q: single(
    z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.string().min(1, { error: 'expected some text' }).max(200, { error: 'at most 200 characters' }))
      .optional(),
  ),
  limit: single(
    z.coerce
      .number({ error: 'expected a number' })
      .int({ error: 'expected a whole number' })
      .min(1, { error: 'at least 1' })
      .max(MAX_PAGE_SIZE, { error: `at most ${MAX_PAGE_SIZE}` })
      .optional(),
  ),
  cursor: single(
    z.string().max(600).refine(isRunCursor, { error: 'not a cursor from a previous page' }).optional(),
  ),
});

/** Parses `GET /api/jobs/runs` query parameters. @throws 400 invalid_query naming the field. */
export function parseRunsQuery(query: unknown): RunQuery {
  const r = runsQuerySchema.safeParse(query ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = String(issue.path[0] ?? (issue as { keys?: string[] }).keys?.[0] ?? 'query');
    const message = issue.code === 'unrecognized_keys' ? 'unknown parameter' : issue.message;
    throw invalidQuery(field, message);
  }
  const { until, ...rest } = r.data as RunQuery & { until?: number };
  if (until !== undefined && rest.since !== undefined && until <= rest.since)
    throw invalidQuery('until', 'must be later than since');
  return (until === undefined ? rest : { ...rest, before: until }) as RunQuery;
}

/** The fields of GET /api/jobs/runs a filter takes (no paging: `limit`, `cursor`), plus `before` (alias of `until`). */
const FILTER_FIELDS = ['job_id', 'status', 'user_id', 'trigger', 'stuck', 'since', 'until', 'q'] as const;

/**
 * Parses a bulk action's `filter` (JSON) with the very rules of `GET /api/jobs/runs` ({@link parseRunsQuery}):
 * the same fields (`job_id`, `status` as an array or `a,b`, `user_id`, `trigger`, `stuck` as a boolean or
 * `true|false`, `since`, `until` as ISO or epoch ms, `q`), plus `before`, the older name of `until`.
 * @throws 400 invalid_body naming the field (`filter.<name>`).
 */
export function parseRunsFilter(filter: unknown): RunQuery {
  const bad = (field: string, message: string) =>
    new AppError('invalid_body', 400, `${field}: ${message}`, { field });
  if (!filter || typeof filter !== 'object' || Array.isArray(filter))
    throw bad('filter', 'expected an object of GET /api/jobs/runs filters');
  const raw = { ...(filter as Record<string, unknown>) };
  if ('before' in raw) {
    if ('until' in raw) throw bad('filter.before', 'give until or before (the same bound), not both');
    raw.until = raw.before;
    delete raw.before;
  }
  const query: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(FILTER_FIELDS as readonly string[]).includes(k)) throw bad(`filter.${k}`, 'unknown filter');
    if (k === 'status' && Array.isArray(v) && v.length && v.every((x) => typeof x === 'string'))
      query[k] = v.join(',');
    else if ((k === 'stuck' && typeof v === 'boolean') || (typeof v === 'number' && Number.isFinite(v)))
      query[k] = String(v);
    else if (typeof v === 'string' || v === undefined) query[k] = v;
    else throw bad(`filter.${k}`, 'expected text (or a list of statuses, a boolean stuck, epoch ms)');
  }
  try {
    return parseRunsQuery(query);
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_query') {
      const field = String(err.extra.field ?? 'filter');
      throw bad(`filter.${field}`, err.message.replace(/^[^:]*: /, ''));
    }
    throw err;
  }
}

const WINDOW_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest stats window: the run retention (7 days). */
export const MAX_WINDOW_MS = 7 * 86_400_000;

const statsQuerySchema = z.strictObject({
  window: single(
    z
      .string()
      .transform((s, ctx) => {
        const m = /^(\d{1,6})(m|h|d)$/.exec(s);
        const ms = m ? Number(m[1]) * WINDOW_UNITS[m[2]] : Number.NaN;
        if (!m || ms < 60_000 || ms > MAX_WINDOW_MS) {
          ctx.addIssue({ code: 'custom', message: 'expected a duration like 30m, 24h or 7d (1m to 7d)' });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
  ),
});

/** Parses `GET /api/jobs/:job_id/stats` query (`window`, default 24h). @throws 400 invalid_query. */
export function parseStatsQuery(query: unknown): { windowMs: number } {
  const r = statsQuerySchema.safeParse(query ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = String(issue.path[0] ?? (issue as { keys?: string[] }).keys?.[0] ?? 'query');
    throw invalidQuery(field, issue.code === 'unrecognized_keys' ? 'unknown parameter' : issue.message);
  }
  return { windowMs: (r.data.window as number | undefined) ?? 24 * 3_600_000 };
}
