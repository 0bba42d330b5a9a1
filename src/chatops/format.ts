import type { JobOverview, PublicJob } from '../monitor/jobs-service';
import type { JobRun, RunStatus } from '../monitor/run';
import { bold, clip, code, escapeHtml, link } from './html';
import { cutQuery } from '../monitor/redact';
import { describeDuration, describeSchedule, describeStuckReason } from '../monitor/schedule-words';
import { type Locale, type Messages, wordsFor } from './i18n';

/** What every formatter needs: the catalogue, where the dashboard lives and the time zone for dates. */
export interface FormatContext {
  t: Messages;
  /** WEBAPP_URL; logs links are left out when unset. */
  webappUrl?: string;
  /** IANA zone for dates (default: the process's zone, i.e. TZ). */
  timeZone?: string;
  /** LOCALE of the words the catalogue does not hold (schedules, durations, job types, triggers); default en. */
  locale?: Locale;
}

/** Longest error text shown per run (the dashboard has the rest). */
export const MAX_ERROR_CHARS = 300;

export const STATUS_ICON: Record<RunStatus, string> = {
  pending: '⏳',
  running: '🔄',
  completed: '✅',
  failed: '❌',
  skipped: '⏭️',
  cancelled: '🚫',
};

/** `WEBAPP_URL/jobs/monitor?run_id=…`, or undefined without WEBAPP_URL. */
export function logsUrl(webappUrl: string | undefined, runId: string): string | undefined {
  if (!webappUrl) return undefined;
  return `${webappUrl.replace(/\/+$/, '')}/jobs/monitor?run_id=${encodeURIComponent(runId)}`;
}

/** The dashboard page, or undefined without WEBAPP_URL. */
export function dashboardUrl(webappUrl: string | undefined): string | undefined {
  return webappUrl ? `${webappUrl.replace(/\/+$/, '')}/jobs/monitor` : undefined;
}

/** `30/12 14:23` in the given zone. */
export function formatWhen(iso: string | null, timeZone?: string): string {
  if (!iso) return '-';
  const parts = new Intl.DateTimeFormat('en-GB', {
    day: '2-digit',
    month: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone,
  }).formatToParts(new Date(iso));
  const p = (type: string) => parts.find((x) => x.type === type)?.value ?? '';
  return `${p('day')}/${p('month')} ${p('hour')}:${p('minute')}`;
}

/** `45% (450/1000)`, or `45%` when the run reports no item counts. */
export function progressText(run: JobRun): string {
  const items = run.total_items !== null ? ` (${run.processed_items ?? 0}/${run.total_items})` : '';
  return `${Math.round(run.progress)}%${items}`;
}

/** A new line with the run's logs link (indented under a list item), or '' without WEBAPP_URL. */
export function logsLine(fc: FormatContext, runId: string, indent = '   '): string {
  const url = logsUrl(fc.webappUrl, runId);
  return url ? `\n${indent}${link(url, fc.t.logs)}` : '';
}

/** `/jobs active`: `⚡ Active runs:` then `🔄 cache_warming - 45% (450/1000)` and a logs link per run. */
export function formatActive(runs: JobRun[], fc: FormatContext): string {
  if (runs.length === 0) return fc.t.noActive;
  const blocks = runs.map((run) => {
    const state = run.status === 'running' ? progressText(run) : fc.t.status[run.status];
    return `${STATUS_ICON[run.status]} ${code(run.job_id)} - ${escapeHtml(state)}${stuckText(run, fc)}${logsLine(fc, run.run_id)}`;
  });
  return `${fc.t.activeTitle}\n\n${blocks.join('\n\n')}`;
}

/** ` ⚠️ stuck (running_too_long)` (Hebrew: the reason in words) for a run the stuck monitor flagged, else ''. */
function stuckText(run: JobRun, fc: FormatContext): string {
  if (!run.stuck) return '';
  const reason = run.stuck_reason ? ` (${escapeHtml(describeStuckReason(run.stuck_reason, fc.locale))})` : '';
  return ` ⚠️ ${escapeHtml(fc.t.stuck)}${reason}`;
}

/** `/jobs failed`: `❌ drive_sync 30/12 14:23`, the error in code style, a logs link. */
export function formatFailed(runs: JobRun[], fc: FormatContext): string {
  if (runs.length === 0) return fc.t.noFailures;
  const blocks = runs.map((run) => {
    const when = formatWhen(run.ended_at ?? run.created_at, fc.timeZone);
    const error = run.error_message ? `\n   ${code(clip(cutQuery(run.error_message), MAX_ERROR_CHARS))}` : '';
    return `❌ ${code(run.job_id)} ${when}${error}${logsLine(fc, run.run_id)}`;
  });
  return `${fc.t.failedTitle}\n\n${blocks.join('\n\n')}`;
}

function jobState(
  job: JobOverview,
  fc: FormatContext,
  nextRunAt?: number | null,
): { icon: string; text: string } {
  const enabled = job.is_dynamic ? fc.t.dynamic : job.enabled ? fc.t.enabled : fc.t.disabled;
  const parts = job.paused ? [enabled, fc.t.paused] : [enabled];
  // A static job's schedule in the dashboard's words, and when its job scheduler fires next.
  if (!job.is_dynamic) parts.push(describeSchedule(job, fc.locale));
  if (nextRunAt)
    parts.push(`${wordsFor(fc.locale).next} ${formatWhen(new Date(nextRunAt).toISOString(), fc.timeZone)}`);
  let icon = (job.enabled || job.is_dynamic) && !job.paused ? '⚪' : '⏸️';
  const running = job.active_runs.find((r) => r.status === 'running') ?? job.active_runs[0];
  if (running) {
    icon = running.stuck ? '⚠️' : '🔄';
    const progress = running.status === 'running' ? ` ${progressText(running)}` : '';
    parts.push(`${fc.t.runningNow}${progress}${running.stuck ? ` (${fc.t.stuck})` : ''}`);
  }
  if (job.last_run) {
    const last = job.last_run;
    if (!running && (job.enabled || job.is_dynamic) && !job.paused) icon = STATUS_ICON[last.status];
    parts.push(
      `${fc.t.last}: ${STATUS_ICON[last.status]} ${fc.t.status[last.status]} ${formatWhen(last.ended_at ?? last.created_at, fc.timeZone)}`,
    );
  } else if (!running) {
    parts.push(fc.t.neverRan);
  }
  return { icon, text: parts.map(escapeHtml).join(' · ') };
}

/**
 * `/jobs` and `/jobs <category>`: jobs grouped by category, each with its state, its schedule in words and,
 * given `nextRuns` (job_id → epoch ms from its job scheduler), when it runs next.
 */
export function formatOverview(
  jobs: JobOverview[],
  fc: FormatContext,
  nextRuns?: ReadonlyMap<string, number | null>,
): string {
  const byCategory = new Map<string, JobOverview[]>();
  for (const job of jobs) byCategory.set(job.category, [...(byCategory.get(job.category) ?? []), job]);
  const sections = [...byCategory.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([category, list]) => {
      const lines = list.map((job) => {
        const { icon, text } = jobState(job, fc, nextRuns?.get(job.job_id));
        return `${icon} ${code(job.job_id)} - ${escapeHtml(clip(job.name, 80))}\n   ${text}`;
      });
      return `📂 ${bold(category)}\n${lines.join('\n')}`;
    });
  return `${fc.t.jobsTitle}\n\n${sections.join('\n\n')}`;
}

/** One run as a line of the job's details. */
function runLine(run: JobRun, fc: FormatContext): string {
  const when = formatWhen(run.started_at ?? run.created_at, fc.timeZone);
  const bits = [fc.t.status[run.status]];
  if (run.status === 'running') bits.push(progressText(run));
  if (run.duration_ms !== null) bits.push(describeDuration(run.duration_ms, fc.locale));
  bits.push(wordsFor(fc.locale).trigger[run.trigger] ?? run.trigger);
  const error = run.error_message ? `\n   ${code(clip(cutQuery(run.error_message), MAX_ERROR_CHARS))}` : '';
  return `${STATUS_ICON[run.status]} ${when} ${escapeHtml(bits.join(' · '))} ${code(run.run_id)}${error}${logsLine(fc, run.run_id)}`;
}

/** `/jobs <job_id>`: the job's definition and its latest runs. */
export function formatJobDetails(
  job: PublicJob & { paused?: boolean },
  runs: JobRun[],
  fc: FormatContext,
  /** When its job scheduler fires next (epoch ms), shown as "Next run"; omitted when unknown. */
  nextRunAt?: number | null,
): string {
  const { t } = fc;
  // The same words as the dashboard's (describeSchedule), in the bot's language.
  const schedule = describeSchedule(job, fc.locale);
  const state = job.is_dynamic ? t.dynamic : job.enabled ? t.enabled : t.disabled;
  const lines = [
    `🔧 ${bold(clip(job.name, 80))} (${code(job.job_id)})`,
    `${t.category}: ${escapeHtml(job.category)} · ${t.type}: ${escapeHtml(wordsFor(fc.locale).jobType[job.job_type] ?? job.job_type)}`,
    `${t.schedule}: ${escapeHtml(schedule)}`,
    `${t.state}: ${escapeHtml(state)}${job.paused ? ` · ⏸️ ${escapeHtml(t.paused)}` : ''} · ${t.triggerable}: ${job.can_trigger ? t.yes : t.no}`,
  ];
  if (nextRunAt)
    lines.push(
      `${wordsFor(fc.locale).nextRun}: ${formatWhen(new Date(nextRunAt).toISOString(), fc.timeZone)}`,
    );
  if (job.description) lines.push(`<i>${escapeHtml(clip(job.description, 500))}</i>`);
  const history = runs.length ? runs.map((r) => runLine(r, fc)).join('\n') : t.noRuns;
  return `${lines.join('\n')}\n\n${t.latestRuns}\n${history}`;
}

/** The usage text: the commands and the known categories (after a "no such job" line when given). */
export function formatUsage(categories: string[], fc: FormatContext, unknownArg?: string): string {
  const head = unknownArg !== undefined ? `${fc.t.unknownArg(code(clip(unknownArg, 64)))}\n\n` : '';
  const lines = fc.t.usageLines.map(([cmd, meaning]) => `<code>${cmd}</code> - ${meaning}`);
  const cats = categories.length
    ? `\n\n${fc.t.categories}: ${categories.map((c) => code(c)).join(', ')}`
    : '';
  return `${head}${fc.t.usageTitle}\n${lines.join('\n')}${cats}`;
}
