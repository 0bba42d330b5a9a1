import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from './errors';
import type { OperatorActions } from './operator-actions';
import type { Principal } from './principal';
import type { RunQuery, RunStore } from './run-store';

/** What a bulk action does to each run. */
export type BulkKind = 'retry' | 'cancel';

/**
 * The runs a bulk action covers by filter: the filters of GET /api/jobs/runs (`until` is `before` here, as in
 * RunQuery), parsed by the same rules (src/api/validation.ts parseRunsFilter).
 */
export type BulkFilter = Pick<
  RunQuery,
  'job_id' | 'status' | 'user_id' | 'trigger' | 'since' | 'before' | 'stuck' | 'q'
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
  /**
   * The run being acted on when the state was saved (before its action; null once it is counted). A process
   * that resumes finds it set when its predecessor died in between: that run may have been handled already,
   * so a refusal saying exactly that (already retried, already cancelled) counts as done, not as refused.
   */
  inflight?: string | null;
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
  /** Extends a claim this process holds; false when it lapsed and another process may have it now. */
  renew(id: string): Promise<boolean>;
  release(id: string): Promise<void>;
}

/** The confirmation's numbers: how many runs a filter matches now, and the range of `created_at` it covers. */
export interface BulkCount {
  matched: number;
  /** True when there are more than {@link MAX_COUNTED} (then `matched` is that cap). */
  more: boolean;
  /** ISO; a filter without `since` starts 7 days back. */
  since: string;
  /** ISO, exclusive; null for "up to now". */
  until: string | null;
}

/** Options of {@link BulkActions}. */
export interface BulkOptions {
  /**
   * How often unfinished bulk actions are looked for, so that one an API process left when it died (its claim
   * lapses) is finished by another.
   * @defaultValue 30000 (BULK_RESUME_SECONDS)
   */
  resumeEveryMs?: number;
  /** Where failures of the background work are reported: `bulk_failed`, `bulk_resume_failed`. */
  logger: Pick<Logger, 'warn' | 'error'>;
  now?: () => number;
}

/** Without a time range, a filter covers the runs of the last 7 days (the run retention). */
export const BULK_DEFAULT_WINDOW_MS = 7 * 86_400_000;
/** Most ids one request may list. */
export const MAX_BULK_IDS = 1000;
/** Runs read per chunk. */
const CHUNK = 50;
/** Most runs the confirmation counts. */
export const MAX_COUNTED = 10_000;

export const bulkNotFound = (id: string) => new AppError('bulk_not_found', 404, `no bulk action "${id}"`);

/**
 * Bulk retry/cancel: the same rules as the single actions (each run goes through {@link OperatorActions},
 * so each is audited and refused the same way), applied in chunks in the background. The state is saved
 * before and after every run, so an API process that restarts resumes unfinished bulk actions where they
 * stopped, and every API process looks for unfinished ones every {@link BulkOptions.resumeEveryMs}: one left by
 * a process that died is finished by another once its claim lapses ({@link run}).
 */
export class BulkActions {
  private readonly running = new Set<Promise<void>>();
  /** Bulk ids this process is working on. */
  private readonly active = new Set<string>();
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly store: RunStore,
    private readonly bulks: BulkStore,
    private readonly actions: OperatorActions,
    private readonly opts: BulkOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Resumes unfinished bulk actions now, then every {@link BulkOptions.resumeEveryMs} (the API role's start). */
  async run(): Promise<void> {
    this.stopped = false;
    await this.resumePending();
    const every = this.opts.resumeEveryMs ?? 30_000;
    const tick = () => {
      this.timer = setTimeout(() => {
        this.resumePending()
          .catch((err) => this.opts.logger.warn({ err }, 'bulk_resume_failed'))
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, every);
      this.timer.unref();
    };
    tick();
  }

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

  /**
   * How many runs a filter matches now (at most {@link MAX_COUNTED}) and the time range it covers, for the
   * dashboard's confirmation.
   */
  async count(filter: BulkFilter): Promise<BulkCount> {
    let n = 0;
    let cursor: string | null = null;
    const since = filter.since ?? this.now() - BULK_DEFAULT_WINDOW_MS;
    do {
      const page = await this.store.list({ ...filter, since, limit: 200, cursor });
      n += page.runs.length;
      cursor = page.next_cursor;
    } while (cursor && n < MAX_COUNTED);
    return {
      matched: Math.min(n, MAX_COUNTED),
      more: n > MAX_COUNTED || (n >= MAX_COUNTED && !!cursor),
      since: new Date(since).toISOString(),
      until: filter.before === undefined ? null : new Date(filter.before).toISOString(),
    };
  }

  /** A bulk action's progress. @throws bulk_not_found */
  async get(id: string) {
    const s = await this.bulks.get(id);
    if (!s) throw bulkNotFound(id);
    const {
      next: _n,
      cursor: _c,
      chunk: _k,
      chunk_pos: _p,
      exhausted: _e,
      run_ids: _r,
      inflight: _i,
      ...pub
    } = s;
    return pub;
  }

  /** Resumes every unfinished bulk action this process is not already working on (when one is free). */
  async resumePending(): Promise<void> {
    if (this.stopped) return;
    for (const id of await this.bulks.pending()) if (!this.active.has(id)) this.kick(id);
  }

  /** Stops looking, stops taking new runs and waits for the current ones; unfinished ones stay pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([...this.running]);
  }

  private kick(id: string): void {
    this.active.add(id);
    // A failure (the store or Redis went away) leaves the action pending: a later resume finishes it.
    const p = this.process(id)
      .catch((err: unknown) => this.opts.logger.error({ err, bulk_id: id }, 'bulk_failed'))
      .finally(() => {
        this.running.delete(p);
        this.active.delete(id);
      });
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
        const runId = state.chunk[state.chunk_pos];
        const resumed = state.inflight === runId;
        state.inflight = runId;
        await this.bulks.save(state);
        await this.applyOne(state, runId, resumed);
        state.chunk_pos++;
        state.inflight = null;
        await this.bulks.save(state);
        // Our claim lapsed (a pause longer than its TTL): another process may be on it now; leave it to that one.
        if (!(await this.bulks.renew(id))) return;
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

  /**
   * Applies the action to one run and counts the outcome. `resumed`: a process that died may have applied it
   * already, so "already retried" / "already cancelled" count as done (the action is idempotent across a crash).
   */
  private async applyOne(state: BulkState, runId: string, resumed: boolean): Promise<void> {
    try {
      if (state.action === 'retry') await this.actions.retry(state.by, runId, { resume: resumed });
      else await this.actions.cancel(state.by, runId);
      state.done++;
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'error';
      if (code === 'error')
        this.opts.logger.warn({ err, bulk_id: state.bulk_id, run_id: runId }, 'bulk_run_failed');
      const alreadyDone =
        resumed &&
        err instanceof AppError &&
        (code === 'run_already_retried' || (code === 'run_not_active' && err.extra.status === 'cancelled'));
      if (alreadyDone) {
        state.done++;
        return;
      }
      state.refused++;
      state.reasons[code] = (state.reasons[code] ?? 0) + 1;
    }
  }
}
