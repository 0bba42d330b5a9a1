import { Router } from 'express';
import { type WorkersSource, workersOverview } from '../monitor/workers';

/**
 * `/api/jobs/workers`: live worker processes (from their heartbeats) and the depth of every queue.
 * Mounted before the jobs router, whose `/:job_id` would otherwise take `workers` as a job id.
 */
export function workersRouter(source: WorkersSource): Router {
  const r = Router();
  r.get('/', async (_req, res) => {
    res.json(await workersOverview(source));
  });
  return r;
}
