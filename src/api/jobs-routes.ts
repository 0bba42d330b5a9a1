import { Router } from 'express';
import type { JobStatsService } from '../monitor/job-stats';
import type { JobsService } from '../monitor/jobs-service';
import { type PayloadSource, redactedPayload } from '../monitor/redact';
import type { RunEventHub } from '../monitor/run-events';
import { streamHandler } from './sse';
import { JOB_ID, param, parseRunsQuery, parseStatsQuery, RUN_ID } from './validation';

/** Optional parts of the jobs API (stats, live stream, read-only mode). */
export interface JobsRouterOptions {
  stats?: JobStatsService;
  events?: RunEventHub;
  /** Refuse every action with 403 `read_only` (everyone is a viewer; see actions-routes). */
  readOnly?: boolean;
  /** Heartbeat interval of the live stream (default 15 s). */
  heartbeatMs?: number;
  /** Adds the run's redacted `payload` to `GET /runs/:run_id` (null once its queue job is gone). */
  payloads?: { source: PayloadSource; redactKeys: readonly string[] };
}

/** `/api/jobs/*`: thin translation between HTTP and the services. */
export function jobsRouter(service: JobsService, opts: JobsRouterOptions = {}): Router {
  const r = Router();

  r.get('/', async (_req, res) => {
    res.json({ jobs: await service.listJobsWithState() });
  });

  r.get('/active', async (_req, res) => {
    res.json({ runs: await service.activeRuns() });
  });

  if (opts.events) r.get('/stream', streamHandler(opts.events, { heartbeatMs: opts.heartbeatMs ?? 15_000 }));

  r.get('/runs', async (req, res) => {
    res.json(await service.listRuns(parseRunsQuery(req.query)));
  });

  r.get('/runs/:run_id', async (req, res) => {
    const run = await service.getRun(param(req.params.run_id, RUN_ID, 'run_id'));
    const p = opts.payloads;
    res.json(p ? { run, payload: await redactedPayload(p.source, run, p.redactKeys) } : { run });
  });

  const stats = opts.stats;
  if (stats) {
    r.get('/:job_id/stats', async (req, res) => {
      const jobId = param(req.params.job_id, JOB_ID, 'job_id');
      res.json({ stats: await stats.stats(jobId, parseStatsQuery(req.query).windowMs) });
    });
  }

  r.get('/:job_id', async (req, res) => {
    res.json(await service.getJob(param(req.params.job_id, JOB_ID, 'job_id')));
  });

  return r;
}
