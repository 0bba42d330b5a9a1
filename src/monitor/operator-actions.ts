import { type AuditAction, type AuditActor, AuditLog, MemoryAuditStore } from './audit';
import { AppError } from './errors';
import type { JobsService } from './jobs-service';
import { type Principal, triggeredBy } from './principal';
import { StoreUnavailableError } from './store-unavailable-error';

/**
 * The operator actions (trigger, retry, …) as every surface performs them — HTTP API, dashboard, ChatOps —
 * each recorded in the audit log with its outcome (done, or refused with the refusal's code). Role checks
 * happen at the edge (they know the route); this class records and performs.
 */
export class OperatorActions {
  constructor(
    readonly service: JobsService,
    readonly audit: AuditLog = new AuditLog(new MemoryAuditStore()),
  ) {}

  /** Runs a static job now on behalf of `who` (see {@link JobsService.trigger}). */
  trigger(who: Principal, jobId: string): Promise<{ run_id: string }> {
    return this.audited(who, 'trigger', { job_id: jobId }, async () => {
      const out = await this.service.trigger(jobId, {
        trigger: 'manual',
        triggered_by: triggeredBy(who),
        ...(who.user_id ? { user_id: who.user_id } : {}),
      });
      return { out, detail: { run_id: out.run_id } };
    });
  }

  /** Retries a failed run (see {@link JobsService.retry}; `resume` is for a bulk action resuming). */
  retry(
    who: Principal,
    runId: string,
    opts: { resume?: boolean } = {},
  ): Promise<{ run_id: string; retry_of: string }> {
    return this.audited(who, 'retry', { run_id: runId }, async () => {
      const out = await this.service.retry(runId, { triggered_by: triggeredBy(who) }, opts);
      return { out, detail: { detail: `new run ${out.run_id}` } };
    });
  }

  /** Cancels a pending or running run (see {@link JobsService.cancel}). */
  cancel(who: Principal, runId: string): Promise<{ run_id: string; status: 'cancelled' | 'cancelling' }> {
    return this.audited(who, 'cancel', { run_id: runId }, async () => {
      const out = await this.service.cancel(runId, triggeredBy(who));
      return { out, detail: { detail: out.status } };
    });
  }

  /** Pauses a job (admin; see {@link JobsService.pause}). */
  pause(who: Principal, jobId: string) {
    return this.audited(who, 'pause', { job_id: jobId }, async () => ({
      out: await this.service.pause(jobId, triggeredBy(who)),
    }));
  }

  /** Resumes a paused job (admin). */
  resume(who: Principal, jobId: string) {
    return this.audited(who, 'resume', { job_id: jobId }, async () => ({
      out: await this.service.resume(jobId),
    }));
  }

  /**
   * Records an attempt refused at the edge, before the action ran: a role too low (`forbidden_role`), read-only
   * mode (`read_only`), a Telegram user on no list (`not_allowed`). The entry names the action attempted and
   * the job or run the request named, with outcome `refused` and the code; `detail` says where (the HTTP route,
   * the Telegram button).
   */
  refused(
    who: AuditActor | null,
    action: AuditAction,
    code: string,
    attempt: { job_id?: string; run_id?: string; detail?: string } = {},
  ): Promise<void> {
    return this.audit.record(who, { action, ...attempt, code, outcome: 'refused' });
  }

  /**
   * Runs an action and records it: `ok` with what it produced, or `refused` with the AppError's code.
   * Unexpected errors are recorded as `error` and rethrown. When the action failed because the store is
   * unreachable, the answer does not wait for the audit write too (it would time out a second time on the
   * same Redis): the `audit` log line is written at once and the store write finishes (or fails, logged)
   * in the background.
   */
  async audited<T>(
    who: Principal,
    action: AuditAction,
    subject: { job_id?: string; run_id?: string },
    fn: () => Promise<{ out: T; detail?: { run_id?: string; job_id?: string; detail?: string } }>,
  ): Promise<T> {
    try {
      const { out, detail } = await fn();
      await this.audit.record(who, { action, ...subject, ...detail });
      return out;
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'error';
      const recorded = this.audit.record(who, { action, ...subject, code });
      // record() never rejects: a failed store write is logged there (audit_write_failed).
      if (!(err instanceof StoreUnavailableError)) await recorded;
      throw err;
    }
  }
}
