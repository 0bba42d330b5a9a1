import { type WorkersOverview, type WorkersSource, workersOverview } from '../monitor/workers';
import type { JobsService } from '../monitor/jobs-service';
import type { JobRun } from '../monitor/run';
import { type FormatContext, formatWhen, logsUrl, STATUS_ICON } from './format';
import { code, escapeHtml, link } from './html';
import type { Locale } from './i18n';

/** Texts of the visibility commands (`/jobs workers`), per locale. */
interface VisMessages {
  workersTitle: string;
  noWorkers: string;
  queuesTitle: string;
  idle: string;
  depth: (waiting: number, delayed: number, active: number, failed: number) => string;
  busy: (active: number, concurrency: number) => string;
  seen: (seconds: number) => string;
  unavailable: string;
  findTitle: (q: string) => string;
  findNone: (q: string) => string;
  findUsage: string;
}

const VIS_MESSAGES: Record<Locale, VisMessages> = {
  en: {
    workersTitle: '🛠 Workers:',
    noWorkers: 'No worker is alive (no heartbeat in the last 3 intervals).',
    queuesTitle: '📥 Queues:',
    idle: 'idle',
    depth: (w, d, a, f) => `waiting ${w} · delayed ${d} · active ${a} · failed ${f}`,
    busy: (a, c) => `${a}/${c} busy`,
    seen: (s) => `seen ${s} s ago`,
    unavailable: 'Workers are not available in this process.',
    findTitle: (q) => `🔎 Runs matching ${q}:`,
    findNone: (q) => `🔎 No run matches ${q} (run id, user id or a job's search key, exact).`,
    findUsage: 'Usage: /jobs find TEXT (a run id, a user id or a search key value such as a call_sid)',
  },
  he: {
    workersTitle: '🛠 עובדים:',
    noWorkers: 'אין עובד פעיל (לא התקבל דופק ב-3 המחזורים האחרונים).',
    queuesTitle: '📥 תורים:',
    idle: 'פנוי',
    depth: (w, d, a, f) => `ממתינות ${w} · מושהות ${d} · פעילות ${a} · נכשלו ${f}`,
    busy: (a, c) => `${a}/${c} תפוסים`,
    seen: (s) => `נראה לפני ${s} שנ׳`,
    unavailable: 'מידע על עובדים אינו זמין בתהליך זה.',
    findTitle: (q) => `🔎 הרצות שמתאימות ל-${q}:`,
    findNone: (q) => `🔎 אין הרצה שמתאימה ל-${q} (מזהה הרצה, מזהה משתמש או מפתח חיפוש, התאמה מלאה).`,
    findUsage: 'שימוש: /jobs find טקסט (מזהה הרצה, מזהה משתמש או ערך של מפתח חיפוש כמו call_sid)',
  },
};

/** The visibility texts of a locale. */
export function visMessagesFor(locale: Locale): VisMessages {
  return VIS_MESSAGES[locale];
}

/** `/jobs workers`: every live worker (id, load, queues, version, its runs with logs links) and queue depths. */
export function formatWorkers(
  o: WorkersOverview,
  fc: FormatContext,
  locale: Locale,
  now = Date.now(),
): string {
  const m = visMessagesFor(locale);
  const workers = o.workers.length
    ? o.workers.map((w) => {
        const seen = Math.max(0, Math.round((now - Date.parse(w.last_seen_at)) / 1000));
        const head = `${w.active ? '🔄' : '⚪'} ${code(w.id)} - ${escapeHtml(m.busy(w.active, w.concurrency))} · ${escapeHtml(
          w.queues.join(', '),
        )} · v${escapeHtml(w.version)} · ${escapeHtml(m.seen(seen))}`;
        const runs = w.runs.length
          ? w.runs.map((id) => {
              const url = logsUrl(fc.webappUrl, id);
              return `\n   ▸ ${url ? link(url, escapeHtml(id)) : code(id)}`;
            })
          : [`\n   ${escapeHtml(m.idle)}`];
        return head + runs.join('');
      })
    : [escapeHtml(m.noWorkers)];
  const queues = o.queues.map(
    (q) => `${code(q.queue)} ${escapeHtml(m.depth(q.waiting, q.delayed, q.active, q.failed))}`,
  );
  return `${m.workersTitle}\n\n${workers.join('\n\n')}\n\n${m.queuesTitle}\n${queues.join('\n')}`;
}

/** Most runs `/jobs find` lists (the dashboard has the rest). */
export const FIND_LIMIT = 10;

/** `/jobs find TEXT`: `✅ recording_download 30/12 14:23 <run id>` per match, newest first, with logs links. */
export function formatFound(q: string, runs: JobRun[], fc: FormatContext, locale: Locale): string {
  const m = visMessagesFor(locale);
  if (!runs.length) return m.findNone(code(q));
  const lines = runs.map((run) => {
    const when = formatWhen(run.created_at, fc.timeZone);
    const url = logsUrl(fc.webappUrl, run.run_id);
    const id = url ? link(url, escapeHtml(run.run_id)) : code(run.run_id);
    const user = run.user_id ? ` · ${code(run.user_id)}` : '';
    return `${STATUS_ICON[run.status]} ${code(run.job_id)} ${escapeHtml(fc.t.status[run.status])} ${when}${user}\n   ${id}`;
  });
  return `${m.findTitle(code(q))}\n\n${lines.join('\n\n')}`;
}

/** What the visibility commands need besides the jobs service. */
export interface VisDeps {
  service: Pick<JobsService, 'listRuns'>;
  workers?: WorkersSource;
  locale: Locale;
  fc: FormatContext;
}

/**
 * Handles the visibility sub-commands of `/jobs` (`workers`). Returns false when `arg` is not one of them,
 * so `/jobs` goes on with its own.
 */
export async function visCommand(
  arg: string,
  d: VisDeps,
  send: (html: string) => Promise<void>,
): Promise<boolean> {
  const word = arg.trim().split(/\s+/)[0]?.toLowerCase();
  if (word === 'workers') {
    if (!d.workers) await send(escapeHtml(visMessagesFor(d.locale).unavailable));
    else {
      await send(formatWorkers(await workersOverview(d.workers), d.fc, d.locale));
    }
    return true;
  }
  if (word === 'find') {
    const q = arg.trim().slice(4).trim();
    if (!q || q.length > 200) await send(escapeHtml(visMessagesFor(d.locale).findUsage));
    else {
      const { runs } = await d.service.listRuns({ q: q.toLowerCase(), limit: FIND_LIMIT });
      await send(formatFound(q, runs, d.fc, d.locale));
    }
    return true;
  }
  return false;
}
