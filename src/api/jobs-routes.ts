import { type RequestHandler, Router } from 'express';
import { readOnly } from '../monitor/errors';
import type { JobStatsService } from '../monitor/job-stats';
import type { JobsService } from '../monitor/jobs-service';
import type { RunEventHub } from '../monitor/run-events';
import { streamHandler } from './sse';
import { JOB_ID, param, parseRunsQuery, parseStatsQuery, RUN_ID } from './validation';

/** Optional parts of the jobs API (stats, live stream, read-only mode). */
export interface JobsRouterOptions {
  stats?: JobStatsService;
  events?: RunEventHub;
  /** Refuse trigger and retry with 403 `read_only`. */
  readOnly?: boolean;
  /** Heartbeat interval of the live stream (default 15 s). */
  heartbeatMs?: number;
}

/** `/api/jobs/*`: thin translation between HTTP and the services. */
export function jobsRouter(service: JobsService, opts: JobsRouterOptions = {}): Router {
  const r = Router();
  const writable: RequestHandler = (_req, _res, next) => next(opts.readOnly ? readOnly() : undefined);

  r.get('/', (_req, res) => {
    res.json({ jobs: service.listJobs() });
  });

  r.get('/active', async (_req, res) => {
    res.json({ runs: await service.activeRuns() });
  });

  if (opts.events) r.get('/stream', streamHandler(opts.events, { heartbeatMs: opts.heartbeatMs ?? 15_000 }));

  r.get('/runs', async (req, res) => {
    res.json(await service.listRuns(parseRunsQuery(req.query)));
  });

  r.get('/runs/:run_id', async (req, res) => {
    res.json({ run: await service.getRun(param(req.params.run_id, RUN_ID, 'run_id')) });
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

  r.post('/runs/:run_id/retry', writable, async (req, res) => {
    res.status(202).json(await service.retry(param(req.params.run_id, RUN_ID, 'run_id')));
  });

  r.post('/:job_id/trigger', writable, async (req, res) => {
    const out = await service.trigger(param(req.params.job_id, JOB_ID, 'job_id'), { trigger: 'manual' });
    res.status(202).json(out);
  });

  return r;
}
