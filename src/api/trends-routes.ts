import { type RequestHandler, Router } from 'express';
import type { JobStatsService } from '../monitor/job-stats';
import { JOB_ID, param } from './validation';

/**
 * `GET /api/jobs/:job_id/trends`: run count, failure rate and p50/p95/p99 durations over 24 h and 7 days, and
 * the 7-day duration series. Mounted on the app before the jobs router; `guard` (the API's auth) runs only on
 * this route.
 */
export function trendsRouter(stats: JobStatsService, guard: RequestHandler): Router {
  const r = Router();
  r.get('/api/jobs/:job_id/trends', guard, async (req, res) => {
    res.json({ trends: await stats.trends(param(req.params.job_id, JOB_ID, 'job_id')) });
  });
  return r;
}
