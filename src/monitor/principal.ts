/**
 * Who asks for an action, and what they may do. Roles are ordered: a viewer reads, an operator also
 * triggers, retries and cancels runs, an admin also pauses and resumes jobs.
 */
export const ACCESS_ROLES = ['viewer', 'operator', 'admin'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

/** An authenticated caller: a named API token, a dashboard session or a Telegram user. */
export interface Principal {
  /** The token's name (API_TOKENS), `admin` for DB_HEALTH_TOKEN, or the Telegram user's label. */
  name: string;
  /** The role the credentials grant (before DASHBOARD_READ_ONLY caps it). */
  role: AccessRole;
  /** Where the request came from; gives the `triggered_by` prefix. */
  via: 'api' | 'dashboard' | 'telegram';
  /** The user runs started by this principal are stored under (Telegram: the user id). */
  user_id?: string;
}

/** True when `role` may do what `need` allows. */
export function roleAtLeast(role: AccessRole, need: AccessRole): boolean {
  return ACCESS_ROLES.indexOf(role) >= ACCESS_ROLES.indexOf(need);
}

/** `triggered_by` of a run a principal starts: `api:<name>`, `dashboard:<name>`, `telegram:<name>`. */
export function triggeredBy(p: Pick<Principal, 'via' | 'name'>): string {
  return `${p.via}:${p.name}`;
}

/** The `triggered_by` of runs the scheduler makes. */
export const SCHEDULER_TRIGGERED_BY = 'scheduler';

/** The `triggered_by` of runs application code enqueues without naming a caller (`enqueueDynamic`). */
export const APP_TRIGGERED_BY = 'app';
