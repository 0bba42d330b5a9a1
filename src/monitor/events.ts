/**
 * Monitoring events: what the tracker and the stuck monitor report and the alert engine turns into alerts.
 */

/** Event names this system emits. Alert rules match them exactly or with a glob (`job_*`). */
export type EventName = 'job_failed' | 'job_stuck' | 'queue_no_workers' | (string & {});

/** The fields an event may carry; they fill the `{placeholders}` of alert messages. */
export interface EventFields {
  job_id?: string;
  run_id?: string;
  queue?: string;
  error?: string;
  attempts?: number;
  minutes?: number;
  reason?: string;
  waiting?: number;
  [extra: string]: string | number | null | undefined;
}

/** An event as the alert engine receives it. */
export interface MonitorEvent {
  /** Unique id (the Redis stream id). */
  id: string;
  name: EventName;
  fields: EventFields;
  /** When it was emitted, ms since epoch. */
  time: number;
}

/**
 * Carries events from any process to the alert engine, so that each event is handled once even with
 * several alert engines running (implemented on a Redis stream with a consumer group in src/events).
 */
export interface EventBus {
  /** Publishes an event; resolves once it is durably queued. */
  emit(name: EventName, fields: EventFields): Promise<void>;
  /**
   * Publishes an event unless one with the same `key` was already published within `ttlSeconds`
   * (by any process). Resolves true when this call published it.
   */
  emitOnce(key: string, ttlSeconds: number, name: EventName, fields: EventFields): Promise<boolean>;
  /** Forgets an `emitOnce` key, so the next emitOnce with it publishes again (a new episode). */
  forget(key: string): Promise<void>;
}
