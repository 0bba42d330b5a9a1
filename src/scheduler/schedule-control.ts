import type { PauseStore, ScheduleControl } from '../monitor/pauses';
import type { JobRegistry } from '../monitor/registry';
import type { QueueSet } from '../queues/queue-set';
import { upsertSchedule } from './scheduler';

/**
 * Pause and resume from any process (the API's): removes a job's BullMQ scheduler at once (its next delayed
 * run goes with it), and puts it back on resume. The scheduler role's sync also skips paused jobs, so a
 * scheduler that restarts does not bring a paused job's schedule back.
 */
export class BullmqScheduleControl implements ScheduleControl {
  constructor(
    private readonly registry: JobRegistry,
    private readonly queues: QueueSet,
    private readonly pauses: PauseStore,
  ) {}

  async remove(jobId: string, queue: string): Promise<void> {
    await this.queues.get(queue).removeJobScheduler(jobId);
  }

  async restore(jobId: string): Promise<void> {
    if (await this.pauses.get(jobId)) return;
    const job = this.registry.scheduled().find((j) => j.job_id === jobId);
    if (job) await upsertSchedule(this.queues.get(job.queue), job);
  }
}
