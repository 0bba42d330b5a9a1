import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import type { AuditAction } from '../monitor/audit';
import { type BulkActions, type BulkFilter, MAX_BULK_IDS } from '../monitor/bulk';
import type { RunQuery } from '../monitor/run-store';
import { AppError } from '../monitor/errors';
import type { OperatorActions } from '../monitor/operator-actions';
import type { AccessRole, Principal } from '../monitor/principal';
import { principalOf } from './auth';
import { requireRole } from './roles';
import { JOB_ID, param, parseRunsFilter, RUN_ID } from './validation';

export interface ActionsRouterOptions {
  /** DASHBOARD_READ_ONLY: every action answers 403 `read_only`. */
  readOnly?: boolean;
  /** Bulk retry/cancel (`POST /runs/bulk`); off without it. */
  bulk?: BulkActions;
}

const bulkSchema = z
  .strictObject({
    action: z.enum(['retry', 'cancel'], { error: 'expected retry or cancel' }),
    run_ids: z
      .array(z.string().regex(RUN_ID, { error: 'expected run ids' }))
      .min(1)
      .max(MAX_BULK_IDS)
      .optional(),
    /** The fields of GET /api/jobs/runs, checked by the same rules (parseRunsFilter) below. */
    filter: z.unknown().optional(),
    dry_run: z.boolean().optional(),
  })
  .refine((b) => !!b.run_ids !== (b.filter !== undefined), {
    error: 'give run_ids or filter (one of them)',
    path: ['run_ids'],
  });

/** A runs query as a bulk filter (no paging fields). */
function toBulkFilter(q: RunQuery): BulkFilter {
  const { limit: _l, cursor: _c, ...filter } = q;
  return filter;
}

/** The job or run a refused request named (only well-formed ids: the request was not validated yet). */
function attemptedOn(params: Request['params']): { job_id?: string; run_id?: string } {
  const { job_id, run_id } = params;
  return {
    ...(typeof job_id === 'string' && JOB_ID.test(job_id) ? { job_id } : {}),
    ...(typeof run_id === 'string' && RUN_ID.test(run_id) ? { run_id } : {}),
  };
}

/** The caller (set by the guard); an admin when a test app mounts the routes without one. */
export function who(res: Response): Principal {
  return principalOf(res) ?? { name: 'admin', role: 'admin', via: 'api' };
}

/**
 * `/api/jobs` operator actions (mounted before the read routes): trigger, retry and cancel (operator), pause and resume (admin). Each
 * checks the caller's role (403 `forbidden_role`, or `read_only`), and every attempt — done or refused —
 * lands in the audit log.
 */
export function actionsRouter(actions: OperatorActions, opts: ActionsRouterOptions = {}): Router {
  const r = Router();
  /** The route needs `need`; a refusal is audited as the `action` attempted, with the job or run it named. */
  const role = (need: AccessRole, action: AuditAction) =>
    requireRole(need, {
      readOnly: opts.readOnly,
      onRefused: (req: Request, p, code) => {
        void actions.refused(p, action, code, {
          ...attemptedOn(req.params),
          detail: `${req.method} ${req.baseUrl}${req.path}`,
        });
      },
    });

  r.post('/runs/:run_id/retry', role('operator', 'retry'), async (req, res) => {
    const runId = param(req.params.run_id, RUN_ID, 'run_id');
    res.status(202).json(await actions.retry(who(res), runId));
  });

  const bulk = opts.bulk;
  if (bulk) {
    r.post('/runs/bulk', role('operator', 'bulk'), async (req, res) => {
      const parsed = bulkSchema.safeParse(req.body ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new AppError('invalid_body', 400, `${issue.path.join('.') || 'body'}: ${issue.message}`, {
          field: issue.path.join('.'),
        });
      }
      const b = parsed.data;
      const filter = b.filter === undefined ? undefined : toBulkFilter(parseRunsFilter(b.filter));
      if (b.dry_run) {
        if (b.run_ids) return void res.json({ matched: new Set(b.run_ids).size });
        // The count for the confirmation, and the range it covers (a filter without `since`: the last 7 days).
        return void res.json(await bulk.count(filter ?? {}));
      }
      res.status(202).json(await bulk.start(who(res), b.action, { run_ids: b.run_ids, filter }));
    });

    r.get('/runs/bulk/:bulk_id', async (req, res) => {
      res.json(await bulk.get(param(req.params.bulk_id, /^b[0-9a-f]{16}$/, 'bulk_id')));
    });
  }

  r.post('/runs/:run_id/cancel', role('operator', 'cancel'), async (req, res) => {
    const runId = param(req.params.run_id, RUN_ID, 'run_id');
    res.status(202).json(await actions.cancel(who(res), runId));
  });

  r.post('/:job_id/pause', role('admin', 'pause'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.json(await actions.pause(who(res), jobId));
  });

  r.post('/:job_id/resume', role('admin', 'resume'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.json(await actions.resume(who(res), jobId));
  });

  r.post('/:job_id/trigger', role('operator', 'trigger'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.status(202).json(await actions.trigger(who(res), jobId));
  });

  return r;
}
