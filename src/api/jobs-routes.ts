import { Router } from 'express';
import type { JobStatsService } from '../monitor/job-stats';
import type { JobsService } from '../monitor/jobs-service';
import {
  DEFAULT_REDACT_KEYS,
  type PayloadSource,
  redactedPayload,
  redactLogs,
  redactRun,
} from '../monitor/redact';
import type { JobRun } from '../monitor/run';
import { describeSchedule, type WordsLocale } from '../monitor/schedule-words';
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
  /**
   * REDACT_KEYS: every run answered (lists, detail, live stream) has its `result` redacted like a payload and
   * URL query strings cut from its errors and logs (see redactRun). @defaultValue payloads' keys, else the
   * REDACT_KEYS default
   */
  redactKeys?: readonly string[];
  /** LOCALE: jobs are answered with `schedule_text`, their schedule in its words. @defaultValue 'en' */
  locale?: WordsLocale;
}

/** `/api/jobs/*`: thin translation between HTTP and the services. */
export function jobsRouter(service: JobsService, opts: JobsRouterOptions = {}): Router {
  const r = Router();
  const keys = opts.redactKeys ?? opts.payloads?.redactKeys ?? DEFAULT_REDACT_KEYS;
  const safe = <T extends Partial<JobRun>>(run: T): T => redactRun(run, keys);

  // `schedule` stays English (a stable value for clients); `schedule_text` is what the dashboard shows, in the
  // same words ChatOps uses (schedule-words.ts).
  const locale = opts.locale ?? 'en';
  const withText = <J extends Parameters<typeof describeSchedule>[0]>(job: J) => ({
    ...job,
    schedule_text: describeSchedule(job, locale),
  });

  r.get('/', async (_req, res) => {
    res.json({ jobs: (await service.listJobsWithState()).map(withText) });
  });

  r.get('/active', async (_req, res) => {
    res.json({ runs: (await service.activeRuns()).map(safe) });
  });

  if (opts.events)
    r.get(
      '/stream',
      streamHandler(opts.events, {
        heartbeatMs: opts.heartbeatMs ?? 15_000,
        redact: (ev) => ({ ...ev, run: safe(ev.run), ...(ev.logs ? { logs: redactLogs(ev.logs) } : {}) }),
      }),
    );

  r.get('/runs', async (req, res) => {
    const page = await service.listRuns(parseRunsQuery(req.query));
    res.json({ ...page, runs: page.runs.map(safe) });
  });

  r.get('/runs/:run_id', async (req, res) => {
    const run = safe(await service.getRun(param(req.params.run_id, RUN_ID, 'run_id')));
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
    const { job, runs } = await service.getJob(param(req.params.job_id, JOB_ID, 'job_id'));
    res.json({ job: withText(job), runs: runs.map(safe) });
  });

  return r;
}
