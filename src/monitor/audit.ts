import type { AccessRole, Principal } from './principal';
import { triggeredBy } from './principal';

/** What an operator did (or tried to do). */
export type AuditAction =
  | 'trigger'
  | 'retry'
  | 'cancel'
  | 'pause'
  | 'resume'
  | 'bulk'
  | 'login'
  | 'logout_all'
  | 'refused';

/** One line of the audit log. */
export interface AuditEntry {
  /** Store id (stream id or ObjectId); newest entries have the largest. */
  id?: string;
  /** ISO time. */
  at: string;
  /** Who: `api:<token>`, `dashboard:<name>`, `telegram:<id> (@user)`; `anonymous` for a failed login. */
  actor: string;
  role: AccessRole | null;
  action: AuditAction;
  /** `ok`, or `refused` with the refusal's `code` (forbidden_role, run_not_failed, …). */
  outcome: 'ok' | 'refused';
  code?: string;
  job_id?: string;
  run_id?: string;
  /** What the action produced or asked, e.g. the new run of a retry, a bulk id, the HTTP route refused. */
  detail?: string;
}

/** Where audit entries are kept (7 days). Redis (stream) without MONGO_URL, MongoDB (TTL index) with it. */
export interface AuditStore {
  append(entry: AuditEntry): Promise<void>;
  /** The newest entries first, at most `limit`. */
  latest(limit: number): Promise<AuditEntry[]>;
}

/** How long audit entries are kept. */
export const AUDIT_RETENTION_MS = 7 * 24 * 3_600_000;
export const MAX_AUDIT_PAGE = 500;

/** The minimal logger the audit log writes its structured line to (pino's shape). */
export interface AuditLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Audit entries in memory (tests; a process without Redis). */
export class MemoryAuditStore implements AuditStore {
  private readonly entries: AuditEntry[] = [];
  private n = 0;

  async append(entry: AuditEntry): Promise<void> {
    this.entries.push({ ...entry, id: String(++this.n) });
  }

  async latest(limit: number): Promise<AuditEntry[]> {
    return this.entries.slice(-limit).reverse();
  }
}

/**
 * Records operator actions: one structured `audit` log line each, and an entry in the {@link AuditStore}.
 * Writing the store is best effort (an outage is logged, never fails the action it records).
 */
export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly logger?: AuditLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an entry; `who` null is an anonymous caller (a wrong login). */
  async record(
    who: Principal | null,
    e: Omit<AuditEntry, 'at' | 'actor' | 'role' | 'outcome'> & { outcome?: 'ok' | 'refused' },
  ): Promise<void> {
    const entry: AuditEntry = {
      at: new Date(this.now()).toISOString(),
      actor: who ? triggeredBy(who) : 'anonymous',
      role: who?.role ?? null,
      ...e,
      outcome: e.outcome ?? (e.code ? 'refused' : 'ok'),
    };
    this.logger?.info({ audit: entry }, 'audit');
    try {
      await this.store.append(entry);
    } catch (err) {
      this.logger?.warn({ err, action: entry.action }, 'audit_write_failed');
    }
  }

  latest(limit: number): Promise<AuditEntry[]> {
    return this.store.latest(Math.max(1, Math.min(Math.floor(limit) || 50, MAX_AUDIT_PAGE)));
  }
}
