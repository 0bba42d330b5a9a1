import { Router } from 'express';
import type { JobsService } from '../monitor/jobs-service';
import { JOB_ID, param, parseRunsQuery, RUN_ID } from './validation';

/** `/api/jobs/*`: thin translation between HTTP and the JobsService. */
export function jobsRouter(service: JobsService): Router {
  const r = Router();

  r.get('/', (_req, res) => {
    res.json({ jobs: service.listJobs() });
  });

  r.get('/active', async (_req, res) => {
    res.json({ runs: await service.activeRuns() });
  });

  r.get('/runs', async (req, res) => {
    res.json(await service.listRuns(parseRunsQuery(req.query)));
  });

  r.get('/runs/:run_id', async (req, res) => {
    res.json({ run: await service.getRun(param(req.params.run_id, RUN_ID, 'run_id')) });
  });

  r.get('/:job_id', async (req, res) => {
    res.json(await service.getJob(param(req.params.job_id, JOB_ID, 'job_id')));
  });

  r.post('/runs/:run_id/retry', async (req, res) => {
    res.status(202).json(await service.retry(param(req.params.run_id, RUN_ID, 'run_id')));
  });

  r.post('/:job_id/trigger', async (req, res) => {
    const out = await service.trigger(param(req.params.job_id, JOB_ID, 'job_id'), { trigger: 'manual' });
    res.status(202).json(out);
  });

  return r;
}
