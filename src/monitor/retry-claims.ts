/** The outcome of {@link RetryClaims.claim}. */
export type RetryClaim =
  | { ok: true; token: string }
  /** Someone retried the run already: `retried_by` is that retry's run id (null while it is being made). */
  | { ok: false; retried_by: string | null };

/**
 * "A failed run is retried once", across processes: the first caller takes the claim, makes the retry and
 * confirms it with the new run id; a refused retry releases it. Redis in production
 * (src/queues/redis-retry-claims.ts); a claim never confirmed (its process died) lapses after a minute.
 */
export interface RetryClaims {
  /** With `takeOverPending`, a claim still being made (not confirmed) is taken over instead of refused. */
  claim(runId: string, opts?: { takeOverPending?: boolean }): Promise<RetryClaim>;
  confirm(runId: string, newRunId: string): Promise<void>;
  release(runId: string, token: string): Promise<void>;
}

/** Retry claims in memory (one process; tests). */
export class MemoryRetryClaims implements RetryClaims {
  private readonly held = new Map<string, string>();
  private n = 0;

  async claim(runId: string, opts: { takeOverPending?: boolean } = {}): Promise<RetryClaim> {
    const cur = this.held.get(runId);
    const pending = cur?.startsWith('pending:') ?? false;
    if (cur !== undefined && !(pending && opts.takeOverPending))
      return { ok: false, retried_by: pending ? null : cur };
    const token = `pending:${++this.n}`;
    this.held.set(runId, token);
    return { ok: true, token };
  }

  async confirm(runId: string, newRunId: string): Promise<void> {
    this.held.set(runId, newRunId);
  }

  async release(runId: string, token: string): Promise<void> {
    if (this.held.get(runId) === token) this.held.delete(runId);
  }
}
