/**
 * The run store or the queues (Redis, MongoDB) can't be reached right now: refused, closed, timed out or
 * still reconnecting. Adapters throw it in place of their driver's transport errors (the driver error is the
 * `cause`, its message is kept), so callers match with `instanceof` instead of reading message text. The HTTP
 * edge answers it with 503 `store_unavailable`; the tracker and workers retry.
 */
export class StoreUnavailableError extends Error {
  /** Stable code (the API's `{"error": code}`). */
  static readonly code = 'store_unavailable';
  readonly code = StoreUnavailableError.code;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A run was queued, but fewer replicas than `REDIS_WAIT_REPLICAS` confirmed it in time (Redis WAIT): the
 * master has it, a failover now could lose it. The HTTP edge answers 503 `store_unavailable` with the
 * `run_id`, so a caller can look the run up instead of queueing a second one.
 */
export class NotReplicatedError extends StoreUnavailableError {
  constructor(
    readonly runId: string,
    readonly acknowledged: number,
    readonly required: number,
  ) {
    super(`run ${runId} was queued but ${acknowledged} of ${required} replicas confirmed it in time`);
    this.name = 'NotReplicatedError';
  }
}
