import { Router } from 'express';
import type { AuditLog } from '../monitor/audit';
import { MAX_AUDIT_PAGE } from '../monitor/audit';
import { invalidQuery } from '../monitor/errors';

/** `GET /api/jobs/audit?limit=`: the latest audit entries, newest first (any role). */
export function auditRouter(audit: AuditLog): Router {
  const r = Router();
  r.get('/audit', async (req, res) => {
    const raw = req.query.limit;
    let limit = 50;
    if (raw !== undefined) {
      if (
        typeof raw !== 'string' ||
        !/^\d{1,4}$/.test(raw) ||
        Number(raw) < 1 ||
        Number(raw) > MAX_AUDIT_PAGE
      )
        throw invalidQuery('limit', `expected a whole number from 1 to ${MAX_AUDIT_PAGE}`);
      limit = Number(raw);
    }
    res.json({ entries: await audit.latest(limit) });
  });
  return r;
}
