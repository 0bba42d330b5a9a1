/** Who paused a job, and when. */
export interface JobPause {
  paused_by: string;
  /** ISO time. */
  paused_at: string;
}

/**
 * Paused jobs, shared by every process (Redis in production: `{jm}:jobs:paused`, no TTL, so a pause survives
 * restarts until someone resumes the job). While a job is paused the scheduler makes no runs of it and
 * manual triggers are refused (409 `job_paused`).
 */
export interface PauseStore {
  /** Every paused job. */
  all(): Promise<Record<string, JobPause>>;
  get(jobId: string): Promise<JobPause | null>;
  /** Pauses a job; a job already paused keeps its first pause. Returns the pause in force. */
  pause(jobId: string, pause: JobPause): Promise<JobPause>;
  /** Resumes a job; true when it was paused. */
  resume(jobId: string): Promise<boolean>;
}

/** Paused jobs in memory (tests; one process). */
export class MemoryPauseStore implements PauseStore {
  private readonly paused = new Map<string, JobPause>();

  async all(): Promise<Record<string, JobPause>> {
    return Object.fromEntries(this.paused);
  }

  async get(jobId: string): Promise<JobPause | null> {
    return this.paused.get(jobId) ?? null;
  }

  async pause(jobId: string, pause: JobPause): Promise<JobPause> {
    if (!this.paused.has(jobId)) this.paused.set(jobId, pause);
    return this.paused.get(jobId)!;
  }

  async resume(jobId: string): Promise<boolean> {
    return this.paused.delete(jobId);
  }
}

/** Turns a job's schedule off and on again (BullMQ job schedulers in production). */
export interface ScheduleControl {
  /** Removes the job's scheduler (and its next delayed run). */
  remove(jobId: string, queue: string): Promise<void>;
  /** Puts the job's scheduler back as the registry defines it (no-op for jobs without a schedule). */
  restore(jobId: string): Promise<void>;
}
