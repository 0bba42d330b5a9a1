import type { ScheduleReader } from '../monitor/job-stats';
import type { JobDefinition } from '../monitor/registry';
import type { QueueSet } from './queue-set';

/** Reads the next run time from BullMQ's job scheduler of a job (scheduler id = job_id). */
export class BullmqScheduleReader implements ScheduleReader {
  constructor(private readonly queues: QueueSet) {}

  async nextRunAt(def: JobDefinition): Promise<number | null> {
    const scheduler = await this.queues.get(def.queue).getJobScheduler(def.job_id);
    const next = scheduler?.next;
    return typeof next === 'number' && Number.isFinite(next) ? next : null;
  }
}
