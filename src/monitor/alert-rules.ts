import type { MonitorEvent } from './events';
import { describeStuckReason } from './schedule-words';

/** How bad an alert is; shown in messages and sent to webhooks. */
export type Severity = 'info' | 'warning' | 'error' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'error', 'critical'];

/** The `{placeholders}` a message template may use. */
export const PLACEHOLDERS = [
  'job_id',
  'run_id',
  'queue',
  'error',
  'attempts',
  'minutes',
  'reason',
  'waiting',
  'link',
  'rule',
  'severity',
  'event',
] as const;

/** One rule of config/alerts.yml. */
export interface AlertRule {
  name: string;
  /** Event name, exact or a glob (`*` any characters, `?` one). */
  event_pattern: string;
  severity: Severity;
  /** No second alert for the same rule and job within this many seconds (0 = none). */
  cooldown_seconds: number;
  /** Template with {placeholders} (see {@link PLACEHOLDERS}). */
  message: string;
  /** The same in Hebrew (LOCALE=he); `message` when absent. */
  message_he?: string;
  /** Names of channels (keys of the file's `channels:`). */
  channels: string[];
}

/** An alert ready to deliver. */
export interface Alert {
  rule: string;
  severity: Severity;
  event: string;
  text: string;
  link: string | null;
  fields: MonitorEvent['fields'];
  time: number;
  /** The rule's template and the values its placeholders take, so a channel can re-render with escaping. */
  template: string;
  values: Record<string, string>;
  /** The severity as a channel shows it in front of the text: `CRITICAL`, or in Hebrew (`קריטי`) with `he`. */
  severity_label?: string;
}

const SEVERITY_HE: Record<Severity, string> = {
  info: 'מידע',
  warning: 'אזהרה',
  error: 'שגיאה',
  critical: 'קריטי',
};

/**
 * The alert's text with every value a run, job or error contributed passed through `escape` (the rule's own
 * template text is kept as written). Slack uses it with {@link escapeSlack}. Pure.
 */
export function alertText(
  alert: Pick<Alert, 'template' | 'values' | 'link'>,
  esc = (s: string) => s,
): string {
  let text = alert.template.replace(/\{([A-Za-z0-9_]+)\}/g, (_, k: string) => esc(alert.values[k] ?? ''));
  if (alert.link && !alert.template.includes('{link}')) text += `\n${esc(alert.link)}`;
  return text;
}

/** Escapes `&`, `<` and `>` as Slack's message formatting requires (so `<!channel>` stays plain text). */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** True when an event name matches a rule's pattern (exact or glob). Pure. */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** Placeholders in a template that are not in {@link PLACEHOLDERS}. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(PLACEHOLDERS);
  return [...template.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]).filter((p) => !known.has(p));
}

/** `WEBAPP_URL/jobs/monitor?run_id=…` when both are known, else null. */
export function runLink(webappUrl: string | undefined, runId: unknown): string | null {
  if (!webappUrl || typeof runId !== 'string' || !runId) return null;
  return `${webappUrl.replace(/\/+$/, '')}/jobs/monitor?run_id=${encodeURIComponent(runId)}`;
}

/** Run ids this system makes (uuids, `rdl-<call_sid>-<n>`, `repeat:<key>:<ms>`) are made of these. */
const PLAIN_RUN_ID = /^[A-Za-z0-9_.:-]+$/;

/**
 * The run id as an alert shows it: as it is when it is one this system could have made, else
 * percent-encoded (a BullMQ job id chosen past the API, e.g. `<img src=x onerror=…>`, arrives as
 * `%3Cimg%20src%3Dx%20onerror%3D…%3E`: still the id the run link carries, but inert in every channel). Pure.
 */
export function alertRunId(runId: string): string {
  return PLAIN_RUN_ID.test(runId) ? runId : encodeURIComponent(runId);
}

/**
 * Builds the alert a rule makes of an event: fills the template (missing values become '') and, when the
 * template has no {link} but a link exists, appends it on its own line. A run id not of this system's
 * making is shown percent-encoded (see {@link alertRunId}), in the text and in `fields`. With `he`, the
 * rule's `message_he` is used and `{reason}` (a stuck reason code) becomes its Hebrew words. Pure.
 */
export function renderAlert(
  rule: AlertRule,
  ev: MonitorEvent,
  webappUrl?: string,
  locale: 'en' | 'he' = 'en',
): Alert {
  const link = runLink(webappUrl, ev.fields.run_id);
  const runId = ev.fields.run_id;
  const fields = typeof runId === 'string' ? { ...ev.fields, run_id: alertRunId(runId) } : ev.fields;
  const raw: Record<string, unknown> = {
    ...fields,
    link: link ?? '',
    rule: rule.name,
    severity: rule.severity,
    event: ev.name,
  };
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && v !== null) values[k] = String(v);
  // A stuck reason is a code (running_too_long): a Hebrew message says it in Hebrew (`fields` keep the code).
  if (locale === 'he' && values.reason !== undefined)
    values.reason = describeStuckReason(values.reason, 'he');
  const template = locale === 'he' && rule.message_he ? rule.message_he : rule.message;
  const parts = { template, values, link };
  return {
    rule: rule.name,
    severity: rule.severity,
    event: ev.name,
    text: alertText(parts),
    severity_label: locale === 'he' ? SEVERITY_HE[rule.severity] : rule.severity.toUpperCase(),
    fields,
    time: ev.time,
    ...parts,
  };
}

/** What a cooldown is counted per: the job, else the queue, else the rule alone. */
export function cooldownSubject(ev: MonitorEvent): string {
  return String(ev.fields.job_id ?? ev.fields.queue ?? '-');
}

/** Delay before delivery attempt `attempt` (1-based) is retried: base × 2^(attempt-1), capped at 60 s. */
export function retryDelayMs(attempt: number, baseMs: number): number {
  return Math.min(60_000, baseMs * 2 ** (attempt - 1));
}
