import type { AccessRole, Principal } from './principal';
import { triggeredBy } from './principal';

/**
 * What an operator did or tried to do. A refused attempt names the action it attempted, with outcome
 * `refused` (entries written before this was so read `refused` here, with the route in `detail`).
 */
export type AuditAction =
  | 'trigger'
  | 'retry'
  | 'cancel'
  | 'pause'
  | 'resume'
  | 'bulk'
  | 'login'
  | 'logout_all';

/**
 * Who an audit entry names: a principal, or a caller that has no role at all (a Telegram user on neither
 * TELEGRAM_ADMIN_IDS nor TELEGRAM_OWNER_IDS); `null` for an anonymous caller (a wrong sign-in token).
 */
export type AuditActor = Principal | (Omit<Principal, 'role'> & { role: null });

/** One line of the audit log. */
export interface AuditEntry {
  /** Store id (stream id or ObjectId); newest entries have the largest. */
  id?: string;
  /** ISO time. */
  at: string;
  /** Who: `api:<token>`, `dashboard:<name>`, `telegram:<id> (@user)`; `anonymous` for a failed login. */
  actor: string;
  role: AccessRole | null;
  /** What was done or attempted (a refused attempt too: the action it would have been). */
  action: AuditAction;
  /**
   * `ok`, or `refused` with the refusal's `code`: the caller's role (`forbidden_role`), `read_only`, a Telegram
   * user on no list (`not_allowed`), a wrong sign-in token (`wrong_token`), or the action's own refusal
   * (run_not_failed, job_already_running, …).
   */
  outcome: 'ok' | 'refused';
  code?: string;
  /** The job and run the action was about, when it named them (also for a refused attempt). */
  job_id?: string;
  run_id?: string;
  /** What the action produced or asked, e.g. the new run of a retry, a bulk id, the HTTP route or button refused. */
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
    who: AuditActor | null,
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
