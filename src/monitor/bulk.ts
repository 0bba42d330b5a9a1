import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from './errors';
import type { OperatorActions } from './operator-actions';
import type { Principal } from './principal';
import type { RunQuery, RunStore } from './run-store';

/** What a bulk action does to each run. */
export type BulkKind = 'retry' | 'cancel';

/** The runs a bulk action covers: a list of ids, or a filter (as GET /api/jobs/runs takes it). */
export type BulkFilter = Pick<
  RunQuery,
  'job_id' | 'status' | 'user_id' | 'trigger' | 'since' | 'before' | 'stuck'
>;

/** A bulk action's progress, as `GET /api/jobs/runs/bulk/{id}` returns it. */
export interface BulkState {
  bulk_id: string;
  action: BulkKind;
  by: Principal;
  run_ids?: string[];
  filter?: BulkFilter;
  status: 'running' | 'done';
  /** Runs found so far (all of them once done). */
  matched: number;
  /** Runs the action was applied to. */
  done: number;
  /** Runs refused, by refusal code (run_not_failed, run_not_active, job_already_running, …). */
  refused: number;
  reasons: Record<string, number>;
  started_at: string;
  finished_at: string | null;
  /** Resume point: the chunk being handled and the position in it, the next index into run_ids, the next page. */
  chunk: string[];
  chunk_pos: number;
  next: number;
  cursor: string | null;
  exhausted: boolean;
}

/** Where bulk states live (Redis: `{jm}:bulk:<id>` kept 7 days, and the set of unfinished ones). */
export interface BulkStore {
  save(state: BulkState): Promise<void>;
  get(id: string): Promise<BulkState | null>;
  /** Ids of bulk actions not finished. */
  pending(): Promise<string[]>;
  finished(id: string): Promise<void>;
  /** Takes the right to process a bulk action (one process at a time); false when another has it. */
  claim(id: string): Promise<boolean>;
  release(id: string): Promise<void>;
}

/** Without a time range, a filter covers the runs of the last 7 days (the run retention). */
export const BULK_DEFAULT_WINDOW_MS = 7 * 86_400_000;
/** Most ids one request may list. */
export const MAX_BULK_IDS = 1000;
/** Runs read per chunk. */
const CHUNK = 50;

export const bulkNotFound = (id: string) => new AppError('bulk_not_found', 404, `no bulk action "${id}"`);

/**
 * Bulk retry/cancel: the same rules as the single actions (each run goes through {@link OperatorActions},
 * so each is audited and refused the same way), applied in chunks in the background. The state is saved
 * after every run, so an API process that restarts resumes unfinished bulk actions where they stopped
 * ({@link resumePending}).
 */
export class BulkActions {
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly store: RunStore,
    private readonly bulks: BulkStore,
    private readonly actions: OperatorActions,
    /** Where a bulk action that stops on an error is logged (`bulk_failed`, with the bulk id). */
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a bulk action; returns its id at once (202). */
  async start(who: Principal, action: BulkKind, target: { run_ids?: string[]; filter?: BulkFilter }) {
    const filter = target.filter
      ? { ...target.filter, since: target.filter.since ?? this.now() - BULK_DEFAULT_WINDOW_MS }
      : undefined;
    const state: BulkState = {
      bulk_id: `b${randomBytes(8).toString('hex')}`,
      action,
      by: who,
      ...(target.run_ids ? { run_ids: [...new Set(target.run_ids)] } : {}),
      ...(filter ? { filter } : {}),
      status: 'running',
      matched: target.run_ids ? new Set(target.run_ids).size : 0,
      done: 0,
      refused: 0,
      reasons: {},
      started_at: new Date(this.now()).toISOString(),
      finished_at: null,
      chunk: [],
      chunk_pos: 0,
      next: 0,
      cursor: null,
      exhausted: false,
    };
    await this.bulks.save(state);
    await this.actions.audit.record(who, {
      action: 'bulk',
      detail: `${action} ${state.bulk_id} ${target.run_ids ? `${state.matched} runs` : 'by filter'}`,
    });
    this.kick(state.bulk_id);
    return { bulk_id: state.bulk_id };
  }

  /** How many runs a filter matches now (for the dashboard's confirmation), at most 10,000. */
  async count(filter: BulkFilter): Promise<number> {
    let n = 0;
    let cursor: string | null = null;
    const since = filter.since ?? this.now() - BULK_DEFAULT_WINDOW_MS;
    do {
      const page = await this.store.list({ ...filter, since, limit: 200, cursor });
      n += page.runs.length;
      cursor = page.next_cursor;
    } while (cursor && n < 10_000);
    return n;
  }

  /** A bulk action's progress. @throws bulk_not_found */
  async get(id: string) {
    const s = await this.bulks.get(id);
    if (!s) throw bulkNotFound(id);
    const { next: _n, cursor: _c, chunk: _k, chunk_pos: _p, exhausted: _e, run_ids: _r, ...pub } = s;
    return pub;
  }

  /** Resumes every unfinished bulk action (call when an API process starts). */
  async resumePending(): Promise<void> {
    for (const id of await this.bulks.pending()) this.kick(id);
  }

  /** Stops taking new runs and waits for the current ones; unfinished bulk actions stay pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running]);
  }

  private kick(id: string): void {
    // A failure (the store or Redis went away) leaves the action pending: the next API start resumes it.
    const p = this.process(id)
      .catch((err: unknown) => this.logger.error({ err, bulk_id: id }, 'bulk_failed'))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private async process(id: string): Promise<void> {
    if (!(await this.bulks.claim(id))) return;
    try {
      const state = await this.bulks.get(id);
      if (!state || state.status === 'done') return void (await this.bulks.finished(id));
      while (!this.stopped) {
        if (state.chunk_pos >= state.chunk.length) {
          const more = await this.refill(state);
          await this.bulks.save(state);
          if (!more) break;
        }
        await this.applyOne(state, state.chunk[state.chunk_pos]);
        state.chunk_pos++;
        await this.bulks.save(state);
      }
      if (this.stopped) return;
      state.status = 'done';
      state.finished_at = new Date(this.now()).toISOString();
      await this.bulks.save(state);
      await this.bulks.finished(id);
    } finally {
      await this.bulks.release(id);
    }
  }

  /** Loads the next chunk of run ids into the state; false when there are no more. */
  private async refill(state: BulkState): Promise<boolean> {
    state.chunk_pos = 0;
    if (state.run_ids) {
      state.chunk = state.run_ids.slice(state.next, state.next + CHUNK);
      state.next += state.chunk.length;
      return state.chunk.length > 0;
    }
    if (state.exhausted) return false;
    const page = await this.store.list({ ...state.filter, limit: CHUNK, cursor: state.cursor });
    state.chunk = page.runs.map((r) => r.run_id);
    state.matched += state.chunk.length;
    state.cursor = page.next_cursor;
    state.exhausted = !page.next_cursor;
    return state.chunk.length > 0;
  }

  private async applyOne(state: BulkState, runId: string): Promise<void> {
    try {
      if (state.action === 'retry') await this.actions.retry(state.by, runId);
      else await this.actions.cancel(state.by, runId);
      state.done++;
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'error';
      state.refused++;
      state.reasons[code] = (state.reasons[code] ?? 0) + 1;
    }
  }
}
