import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AppError } from '../monitor/errors';
import { type AccessRole, type Principal, roleAtLeast } from '../monitor/principal';
import { principalOf } from './auth';
import { forbiddenRole, readOnly } from './http-errors';

/** Called when a caller is refused for its role (the audit log records it). */
export type RefusalHook = (req: Request, who: Principal | null, code: string) => void;

export interface RoleOptions {
  /** DASHBOARD_READ_ONLY: everyone is capped at viewer; refusals are 403 `read_only`. */
  readOnly?: boolean;
  onRefused?: RefusalHook;
}

/**
 * Guards a route (after `requireToken`): the caller needs at least `need`. A viewer-only deployment
 * (`readOnly`) refuses anything above viewer with `read_only`; a too-low role gets `forbidden_role`.
 */
export function requireRole(need: AccessRole, opts: RoleOptions = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const who = principalOf(res);
    const role = who?.role ?? 'viewer';
    let err: AppError | undefined;
    if (need !== 'viewer' && opts.readOnly) err = readOnly();
    else if (!roleAtLeast(role, need)) err = forbiddenRole(need, role);
    if (err) opts.onRefused?.(req, who, err.code);
    next(err);
  };
}
