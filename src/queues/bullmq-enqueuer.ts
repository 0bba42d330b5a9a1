import type { JobEnvelope } from '../monitor/lifecycle';
import type { JobEnqueuer } from '../monitor/jobs-service';
import type { JobRun } from '../monitor/run';
import type { QueueSet } from './queue-set';

/** JobEnqueuer on BullMQ: the run id is the BullMQ job id; exclusivity uses BullMQ deduplication. */
export class BullmqEnqueuer implements JobEnqueuer {
  constructor(private readonly queues: QueueSet) {}

  async enqueue(
    def: Parameters<JobEnqueuer['enqueue']>[0],
    envelope: Parameters<JobEnqueuer['enqueue']>[1],
    opts: { runId: string; exclusiveKey?: string },
  ) {
    const job = await this.queues.get(def.queue).add(def.job_id, envelope, {
      jobId: opts.runId,
      ...(opts.exclusiveKey ? { deduplication: { id: opts.exclusiveKey } } : {}),
    });
    return { runId: job.id!, deduplicated: job.id !== opts.runId };
  }

  async payloadOf(run: JobRun): Promise<unknown> {
    const job = await this.queues.get(run.queue).getJob(run.run_id);
    return (job?.data as JobEnvelope | undefined)?.payload;
  }
}
