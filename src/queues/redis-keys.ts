/**
 * Every Redis key and channel the project owns, built from `QUEUE_PREFIX` in this one place (as BullMQ's
 * `QueueKeys` does for a queue): nothing else concatenates key strings. The README's "Redis keys" table
 * lists them for operators.
 *
 * Two hash tags, so the same names work on one Redis and on Redis Cluster:
 * - the project's own keys (runs, indexes, checkpoints, locks, counters, events, recordings state) share
 *   `{<name>}`, so every multi-key command and Lua script stays in one slot;
 * - each BullMQ queue gets its own tag `{<name>:<queue>}` (BullMQ's documented way), so queues spread
 *   across the shards of a cluster.
 *
 * `<name>` is `QUEUE_PREFIX` without braces: the default `{jm}` gives `{jm}:runs:…` and `{jm:default}:default:wait`.
 */
/** How long a cancel request waits for a worker that missed its message (see RedisKeys.cancelRequest). */
export const CANCEL_REQUEST_TTL_S = 3600;

export class RedisKeys {
  /** `QUEUE_PREFIX` without braces. */
  readonly name: string;
  /** Hash tag every project key starts with, e.g. `{jm}`. */
  readonly tag: string;

  constructor(prefix: string) {
    this.name = prefix.replace(/[{}]/g, '');
    if (!this.name) throw new Error(`QUEUE_PREFIX "${prefix}" has no name inside its braces`);
    this.tag = `{${this.name}}`;
  }

  // --- BullMQ -------------------------------------------------------------------------------------

  /** The BullMQ `prefix` option of a queue (its Queue, Worker, QueueEvents and Bull Board entry). */
  queuePrefix(queue: string): string {
    return `{${this.name}:${queue}}`;
  }

  /** A key of a BullMQ queue, e.g. `queueKey('tq', 'completed')`, or a job hash with the job id. */
  queueKey(queue: string, suffix: string): string {
    return `${this.queuePrefix(queue)}:${queue}:${suffix}`;
  }

  // --- Run store (src/store/redis-run-store.ts) ----------------------------------------------------

  /**
   * Base of every run store key ({@link run}, {@link runLogs}, {@link runLeaf}…); the store's Lua script gets
   * it as an argument and builds the same names (they all hash to the project's slot).
   */
  get runsBase(): string {
    return `${this.tag}:runs:`;
  }

  /** A run of `job_runs` (hash of compact fields, see src/store/redis-run-store.ts `FIELD`). */
  run(runId: string): string {
    return `${this.runsBase}r:${runId}`;
  }

  /**
   * A day bucket of runs created finished (hash: field run id, value the record's pairs as JSON; see
   * BUCKET_HELPERS in src/store/redis-run-store-lua.ts): creation day (ms / 86,400,000) and shard.
   */
  runBucket(day: number, shard: number): string {
    return `${this.runsBase}b:${day}:${shard}`;
  }

  /** A run's last 50 log lines (list; only for runs that logged). */
  runLogs(runId: string): string {
    return `${this.runsBase}l:${runId}`;
  }

  /**
   * A run index leaf (sorted set: member run id, score created_at ms) of one `<job>|<status>|<trigger>`
   * combination; every run is in exactly one. {@link runLeafDir} lists the leaves that exist.
   */
  runLeaf(leaf: string): string {
    return `${this.runsBase}L:${leaf}`;
  }

  /** Set of the existing {@link runLeaf} names (`<job>|<status>|<trigger>`). */
  get runLeafDir(): string {
    return `${this.runsBase}D`;
  }

  /**
   * A user's index leaf (same leaf names, only runs with that `user_id`). The length prefix counts UTF-8
   * bytes, as the store's Lua `#user` does, so a Hebrew or emoji user id names the same key on both sides.
   */
  runUserLeaf(userId: string, leaf: string): string {
    return `${this.runsBase}U:${Buffer.byteLength(userId, 'utf8')}:${userId}|${leaf}`;
  }

  /** Set of one user's existing {@link runUserLeaf} names. */
  runUserDir(userId: string): string {
    return `${this.runsBase}UD:${userId}`;
  }

  /** Set of the user ids that have a {@link runUserDir} (for the retention trim). */
  get runUserRegistry(): string {
    return `${this.runsBase}UR`;
  }

  /** Sorted set of the runs flagged stuck now (score created_at ms). */
  get runStuck(): string {
    return `${this.runsBase}K`;
  }

  /** Runs whose search terms (or lowercased run id / user id) include `term` (sorted set by created_at). */
  runTerm(term: string): string {
    return `${this.runsBase}Q:${term}`;
  }

  // --- Tracker, live stream, scheduler, workers ----------------------------------------------------

  /** Last events-stream id the tracker stored for a queue (string, monotonic). */
  trackerCheckpoint(queue: string): string {
    return `${this.tag}:tracker:checkpoint:${queue}`;
  }

  /** Pub/sub channel of stored run changes (tracker → API SSE). */
  get runEventsChannel(): string {
    return `${this.tag}:jm:run-events`;
  }

  /** Set (with a short TTL) by every API process that has live-stream clients: publishers skip work without it. */
  get runEventsListeners(): string {
    return `${this.tag}:jm:run-events:listening`;
  }

  /** Set of the queues the scheduler keeps job schedulers on. */
  get schedulerQueues(): string {
    return `${this.tag}:jm:scheduler:queues`;
  }

  /** Marker of a `once` job already enqueued (ISO time of the first enqueue). */
  scheduledOnce(jobId: string): string {
    return `${this.tag}:jm:once:${jobId}`;
  }

  /** Fleet-wide lock of a job with `allow_concurrent: false` (value: the holding run id). */
  jobLock(jobId: string): string {
    return `${this.tag}:jm:lock:${jobId}`;
  }

  /** Sorted set of live worker ids, scored by the epoch ms their heartbeat expires at (src/workers/heartbeat.ts). */
  get workers(): string {
    return `${this.tag}:jm:workers`;
  }

  /**
   * Hash worker id → JSON `{queues, stored_through, beat_at, interval_ms}` of every live worker process's
   * recorder, written with each heartbeat and removed at a clean stop (no TTL): an entry that stopped
   * beating is a dead worker whose last runs the reconciler records from BullMQ (src/queues/redis-recording-gaps.ts).
   */
  get recorders(): string {
    return `${this.tag}:jm:recorders`;
  }

  /** List of JSON recording gaps a recorder reported (updates it dropped in a store outage) for the reconciler. */
  get recordingGaps(): string {
    return `${this.tag}:jm:recording-gaps`;
  }

  /** A worker's last heartbeat (JSON), expiring after 3 heartbeat intervals. */
  worker(id: string): string {
    return `${this.tag}:jm:worker:${id}`;
  }

  // --- Monitor, events, alerts, metrics --------------------------------------------------------------

  /** Lock of the stuck monitor: one process scans at a time. */
  get monitorLock(): string {
    return `${this.tag}:monitor:lock`;
  }

  /** Stream of alertable events (job_failed, job_stuck, …) the alert engine reads. */
  get eventsStream(): string {
    return `${this.tag}:events`;
  }

  /** Marker that an event was already emitted (emitOnce). */
  eventOnce(key: string): string {
    return `${this.tag}:events:once:${key}`;
  }

  /** Alert cooldown per rule and subject (set NX with the cooldown as TTL). */
  alertCooldown(key: string): string {
    return `${this.tag}:alerts:cooldown:${key}`;
  }

  /** Shared Prometheus counters: `runs`, `durations`, `alerts` hashes and the `stuck` gauge hash. */
  metric(name: 'runs' | 'durations' | 'alerts' | 'stuck'): string {
    return `${this.tag}:metrics:${name}`;
  }

  // --- Dashboard sessions (src/dashboard/session.ts) -----------------------------------------------

  /** A live dashboard session: the generation it was created in; expires with the session. */
  dashboardSession(id: string): string {
    return `${this.tag}:dashboard:session:${id}`;
  }

  /** Session generation; logout-all INCRs it, which ends every session created before. */
  get dashboardSessionGeneration(): string {
    return `${this.tag}:dashboard:session-generation`;
  }

  // --- Recordings ----------------------------------------------------------------------------------

  /** Hash call_sid → recording URL (the default recording source). */
  get recordingUrls(): string {
    return `${this.tag}:recording_urls`;
  }

  /** Current download generation of a call. */
  recordingGeneration(callSid: string): string {
    return `${this.tag}:recording_gen:${callSid}`;
  }

  /** Recovery attempts of a call within the retry window (delete it to give a call fresh attempts). */
  recordingRetryAttempts(callSid: string): string {
    return `${this.tag}:recording_retry_attempts:${callSid}`;
  }

  // --- Operator actions (#12) ------------------------------------------------------------------------

  /** Stream of audit entries (trigger, retry, cancel, pause, resume, login, refusals); trimmed to 7 days. */
  get auditStream(): string {
    return `${this.tag}:audit`;
  }

  /** Hash job_id → JSON `{paused_by, paused_at}` of paused jobs (no TTL: a pause holds until resumed). */
  get pausedJobs(): string {
    return `${this.tag}:jobs:paused`;
  }

  /** Pub/sub channel every worker process listens on for `{run_id, by}` cancel requests. */
  get cancelChannel(): string {
    return `${this.tag}:runs:cancel`;
  }

  /**
   * String `by` of a cancel request for a running run, kept {@link CANCEL_REQUEST_TTL_S} so that a worker whose
   * subscriber was reconnecting when the request was published finds it (CancelListener).
   */
  cancelRequest(runId: string): string {
    return `${this.tag}:runs:cancel-request:${runId}`;
  }

  /**
   * The retry of a failed run: `pending:<token>` (60 s) while it is being made, then the new run's id (7 days).
   * Taken with SET NX PX (`takeOrHolder`, src/queues/redis-lock.ts), so a failed run is retried once whichever
   * process (or bulk action) asks.
   */
  retryClaim(runId: string): string {
    return `${this.tag}:runs:retry:${runId}`;
  }

  /** A bulk action's state (JSON), kept 7 days. */
  bulk(id: string): string {
    return `${this.tag}:bulk:${id}`;
  }

  /** The lock of the API process working on a bulk action (expiring). */
  bulkLock(id: string): string {
    return `${this.tag}:bulk:${id}:lock`;
  }

  /** Set of bulk ids not finished yet (resumed when an API process starts). */
  get bulkPending(): string {
    return `${this.tag}:bulk:pending`;
  }

  // --- Operators -------------------------------------------------------------------------------------

  /** SCAN MATCH patterns covering every key of this deployment (project keys and every queue). */
  get patterns(): string[] {
    return [`${this.tag}:*`, `{${this.name}:*}:*`];
  }
}
