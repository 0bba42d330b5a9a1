import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { type BulkActions, MAX_BULK_IDS } from '../monitor/bulk';
import { AppError } from '../monitor/errors';
import type { OperatorActions } from '../monitor/operator-actions';
import { RUN_STATUSES, RUN_TRIGGERS } from '../monitor/run';
import type { AccessRole, Principal } from '../monitor/principal';
import { principalOf } from './auth';
import { requireRole } from './roles';
import { JOB_ID, param, RUN_ID } from './validation';

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
    filter: z
      .strictObject({
        job_id: z.string().regex(JOB_ID, { error: 'expected a job id' }).optional(),
        status: z.array(z.enum(RUN_STATUSES)).min(1).optional(),
        user_id: z.string().max(128).optional(),
        trigger: z.enum(RUN_TRIGGERS).optional(),
        since: z
          .union([z.number().int().nonnegative(), z.iso.datetime().transform((v) => Date.parse(v))])
          .optional(),
        before: z
          .union([z.number().int().nonnegative(), z.iso.datetime().transform((v) => Date.parse(v))])
          .optional(),
        stuck: z.boolean().optional(),
      })
      .optional(),
    dry_run: z.boolean().optional(),
  })
  .refine((b) => !!b.run_ids !== !!b.filter, {
    error: 'give run_ids or filter (one of them)',
    path: ['run_ids'],
  });

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
  const role = (need: AccessRole) =>
    requireRole(need, {
      readOnly: opts.readOnly,
      onRefused: (req: Request, p, code) => {
        void actions.refused(p, code, `${req.method} ${req.baseUrl}${req.path}`);
      },
    });

  r.post('/runs/:run_id/retry', role('operator'), async (req, res) => {
    const runId = param(req.params.run_id, RUN_ID, 'run_id');
    res.status(202).json(await actions.retry(who(res), runId));
  });

  const bulk = opts.bulk;
  if (bulk) {
    r.post('/runs/bulk', role('operator'), async (req, res) => {
      const parsed = bulkSchema.safeParse(req.body ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new AppError('invalid_body', 400, `${issue.path.join('.') || 'body'}: ${issue.message}`, {
          field: issue.path.join('.'),
        });
      }
      const b = parsed.data;
      if (b.dry_run) {
        const matched = b.run_ids ? new Set(b.run_ids).size : await bulk.count(b.filter ?? {});
        return void res.json({ matched });
      }
      res.status(202).json(await bulk.start(who(res), b.action, { run_ids: b.run_ids, filter: b.filter }));
    });

    r.get('/runs/bulk/:bulk_id', async (req, res) => {
      res.json(await bulk.get(param(req.params.bulk_id, /^b[0-9a-f]{16}$/, 'bulk_id')));
    });
  }

  r.post('/runs/:run_id/cancel', role('operator'), async (req, res) => {
    const runId = param(req.params.run_id, RUN_ID, 'run_id');
    res.status(202).json(await actions.cancel(who(res), runId));
  });

  r.post('/:job_id/pause', role('admin'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.json(await actions.pause(who(res), jobId));
  });

  r.post('/:job_id/resume', role('admin'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.json(await actions.resume(who(res), jobId));
  });

  r.post('/:job_id/trigger', role('operator'), async (req, res) => {
    const jobId = param(req.params.job_id, JOB_ID, 'job_id');
    res.status(202).json(await actions.trigger(who(res), jobId));
  });

  return r;
}
