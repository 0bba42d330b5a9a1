import {
  ACTIVE_STATUSES,
  applyRunUpdate,
  DEFAULT_RUN_RESULT_MAX_BYTES,
  FINISHED_STATUSES,
  type JobRun,
  prepareUpdate,
  RUN_STATUSES,
  type RunStatus,
  type RunUpdate,
} from '../monitor/run';
import {
  DEFAULT_STATS_SAMPLE,
  decodeCursor,
  encodeCursor,
  pageSize,
  type RunPage,
  type RunQuery,
  type RunStatsSample,
  type RunStore,
} from '../monitor/run-store';

/**
 * A RunStore in process memory, built directly on {@link applyRunUpdate} (the reference rules the Redis
 * and MongoDB stores implement in Lua and in an update pipeline). It passes the same contract suite.
 *
 * Use it where the logic under test is not the store: tracker, services and rules tests that should run in
 * milliseconds without Redis. It keeps no retention and is not shared between processes, so it is not a
 * production store.
 */
export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, JobRun>();
  /** Search terms of each run (RunIdentity.search, written at creation; never returned on the run). */
  private readonly terms = new Map<string, readonly string[]>();

  /** `maxResultBytes`: RUN_RESULT_MAX_BYTES, as the other stores take it. */
  constructor(private readonly opts: { maxResultBytes?: number } = {}) {}

  async init(): Promise<void> {}

  async apply(updates: RunUpdate[]): Promise<void> {
    for (const raw of updates) {
      const u = prepareUpdate(raw, this.opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES);
      const current = this.runs.get(u.run_id) ?? null;
      const next = applyRunUpdate(current, u);
      if (!next) continue; // marks for a run this store doesn't have
      if (!current) this.terms.set(u.run_id, u.identity.search ?? []);
      this.runs.set(u.run_id, next);
    }
  }

  async get(runId: string): Promise<JobRun | null> {
    const run = this.runs.get(runId);
    return run ? copy(run, true) : null;
  }

  async list(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    const q = query.q?.trim().toLowerCase();
    const matches = [...this.runs.values()]
      .filter((r) => {
        const at = Date.parse(r.created_at);
        if (query.job_id && r.job_id !== query.job_id) return false;
        if (query.status?.length && !query.status.includes(r.status)) return false;
        if (query.user_id && r.user_id !== query.user_id) return false;
        if (query.trigger && r.trigger !== query.trigger) return false;
        if (query.stuck !== undefined && r.stuck !== query.stuck) return false;
        if (q && !matchesSearch(r, this.terms.get(r.run_id) ?? [], q)) return false;
        if (query.since !== undefined && at < query.since) return false;
        if (query.before !== undefined && at >= query.before) return false;
        if (after && !(at < after.createdAtMs || (at === after.createdAtMs && r.run_id < after.runId)))
          return false;
        return true;
      })
      .sort(newestFirst);
    const runs = matches.slice(0, limit).map((r) => copy(r, false));
    const last = runs[runs.length - 1];
    return {
      runs,
      next_cursor:
        matches.length > limit && last ? encodeCursor(Date.parse(last.created_at), last.run_id) : null,
    };
  }

  async statuses(runIds: string[]): Promise<Map<string, RunStatus>> {
    const out = new Map<string, RunStatus>();
    for (const id of runIds) {
      const run = this.runs.get(id);
      if (run) out.set(id, run.status);
    }
    return out;
  }

  async countActive(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of this.runs.values()) {
      if (ACTIVE_STATUSES.includes(r.status)) out[r.job_id] = (out[r.job_id] ?? 0) + 1;
    }
    return out;
  }

  async stats(jobId: string, since: number, sample = DEFAULT_STATS_SAMPLE): Promise<RunStatsSample> {
    const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    const inWindow = [...this.runs.values()].filter(
      (r) => r.job_id === jobId && Date.parse(r.created_at) >= since,
    );
    for (const r of inWindow) counts[r.status]++;
    const finished = inWindow
      .filter((r) => FINISHED_STATUSES.includes(r.status))
      .sort(newestFirst)
      .slice(0, sample)
      .map((r) => ({
        run_id: r.run_id,
        status: r.status,
        created_at: r.created_at,
        duration_ms: r.duration_ms,
      }));
    return { counts, finished };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

/** `RunQuery.q`: the run id, user id (both compared lowercased and trimmed) or a search term equals `q`. */
function matchesSearch(r: JobRun, terms: readonly string[], q: string): boolean {
  if (r.run_id.trim().toLowerCase() === q) return true;
  if (r.user_id !== null && r.user_id.trim().toLowerCase() === q) return true;
  return terms.includes(q);
}

function newestFirst(a: JobRun, b: JobRun): number {
  const d = Date.parse(b.created_at) - Date.parse(a.created_at);
  if (d) return d;
  return a.run_id < b.run_id ? 1 : a.run_id > b.run_id ? -1 : 0;
}

/** What a store hands out: a copy (callers may mutate it), logs without their internal `seq`. */
function copy(run: JobRun, withLogs: boolean): JobRun {
  const logs = withLogs ? run.logs.map(({ time, level, message }) => ({ time, level, message })) : [];
  // newRun spreads the identity, `search` included: it is index-only, never returned.
  const { search: _search, ...rest } = run as JobRun & { search?: unknown };
  return structuredClone({ ...rest, logs });
}
