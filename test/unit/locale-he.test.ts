/** LOCALE=he: Hebrew output without English fragments (statuses, units, schedules, types, triggers). */
import {
  type FormatContext,
  formatActive,
  formatFailed,
  formatJobDetails,
  formatOverview,
} from '../../src/chatops/format';
import { visibleText } from '../../src/chatops/html';
import { messagesFor } from '../../src/chatops/i18n';
import { formatWorkers, visMessagesFor } from '../../src/chatops/vis-commands';
import { loadConfig } from '../../src/config';
import type { PublicJob } from '../../src/monitor/jobs-service';
import { type JobRun, newRun } from '../../src/monitor/run';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAlert } from '../../src/monitor/alert-rules';
import { STUCK_REASONS } from '../../src/monitor/run';
import {
  describeCron,
  describeDuration,
  describeInterval,
  describeSchedule,
  describeStuckReason,
} from '../../src/monitor/schedule-words';

const fc: FormatContext = { t: messagesFor('he'), timeZone: 'UTC', locale: 'he' };
/** Latin words left after removing what is data (ids, names) and code: none may remain. */
const englishWords = (text: string, data: string[]) => {
  let t = text;
  for (const d of data) t = t.split(d).join('');
  return t.match(/[A-Za-z]{2,}/g) ?? [];
};

function run(over: Partial<JobRun>): JobRun {
  return {
    ...newRun('m1', {
      job_id: 'cache_warming',
      queue: 'q',
      created_at: '2024-12-30T14:20:00Z',
      trigger: 'manual',
      user_id: null,
    }),
    ...over,
  };
}

const job = {
  job_id: 'cache_warming',
  name: 'חימום מטמון',
  category: 'cache',
  job_type: 'repeating',
  interval_seconds: 3600,
  cron: null,
  enabled: true,
  allow_concurrent: false,
  queue: 'q',
  timeout_seconds: null,
  stuck_after_minutes: null,
  description: '',
  can_trigger: true,
  is_dynamic: false,
  schedule: 'every 1 h',
} satisfies PublicJob;

describe('Hebrew (LOCALE=he)', () => {
  it('LOCALE wins; BOT_LOCALE is its alias when LOCALE is unset; default en', () => {
    expect(loadConfig({ LOCALE: 'he' }).LOCALE).toBe('he');
    expect(loadConfig({ BOT_LOCALE: 'he' }).LOCALE).toBe('he');
    expect(loadConfig({ LOCALE: 'en', BOT_LOCALE: 'he' }).LOCALE).toBe('en');
    expect(loadConfig({}).LOCALE).toBe('en');
    expect(() => loadConfig({ LOCALE: 'fr' })).toThrow('environment: LOCALE: expected en or he');
  });

  it('job details: schedule in the dashboard words, type, status, duration unit and trigger in Hebrew', () => {
    const html = formatJobDetails(
      job,
      [
        run({ status: 'completed', duration_ms: 5000, started_at: '2024-12-30T14:23:00Z' }),
        run({ run_id: 'm2', status: 'cancelled', duration_ms: 800, trigger: 'scheduled' }),
      ],
      fc,
    );
    const text = visibleText(html);
    expect(text).toContain(`תזמון: ${describeSchedule(job, 'he')}`);
    expect(text).toContain('כל 1 שע׳');
    expect(text).toContain('סוג: חוזר');
    expect(text).toContain('הושלם · 5.0 שנ׳ · ידני');
    expect(text).toContain('בוטל · 800 מ״ש · מתוזמן');
    expect(englishWords(text, ['cache_warming', 'cache', 'm1', 'm2'])).toEqual([]);
  });

  it('job details show the next run time (from the job scheduler), in either language', () => {
    const next = Date.parse('2024-12-31T03:17:00Z');
    expect(visibleText(formatJobDetails(job, [], fc, next))).toContain('הרצה הבאה: 31/12 03:17');
    const en: FormatContext = { t: messagesFor('en'), timeZone: 'UTC' };
    expect(visibleText(formatJobDetails(job, [], en, next))).toContain('Next run: 31/12 03:17');
    expect(visibleText(formatJobDetails(job, [], en, null))).not.toContain('Next run');
  });

  it('failures, workers and schedules have no English words', () => {
    const failed = visibleText(formatFailed([run({ status: 'failed', error_message: 'x' })], fc));
    expect(englishWords(failed, ['cache_warming'])).toEqual([]);
    const workers = visibleText(
      formatWorkers(
        {
          workers: [
            {
              id: 'vm:1',
              host: 'vm',
              pid: 1,
              queues: ['tq'],
              concurrency: 5,
              active: 1,
              runs: ['m1'],
              started_at: '2024-12-30T14:00:00Z',
              last_seen_at: '2024-12-30T14:00:00Z',
              version: '0.1.0',
            },
          ],
          queues: [{ queue: 'tq', waiting: 1, delayed: 0, active: 1, failed: 0 }],
        },
        fc,
        'he',
        Date.parse('2024-12-30T14:00:05Z'),
      ),
    );
    expect(workers).toContain('1/5 תפוסים');
    expect(englishWords(workers, ['vm:1', 'tq', 'm1'])).toEqual([]);
    expect(describeCron('17 3 * * *', 'he')).toBe('כל יום ב-03:17');
    expect(describeSchedule({ job_type: 'once', interval_seconds: null, cron: null }, 'he')).toBe('פעם אחת');
    expect(describeDuration(125_000, 'he')).toBe('2 דק׳ 5 שנ׳');
  });

  it('days take the plural: every 7 days is כל 7 ימים, one day stays כל 1 יום', () => {
    expect(describeInterval(7 * 86_400, 'he')).toBe('כל 7 ימים');
    expect(describeInterval(86_400, 'he')).toBe('כל 1 יום');
    expect(describeInterval(2 * 3600, 'he')).toBe('כל 2 שע׳');
    expect(describeInterval(7 * 86_400)).toBe('every 7 d');
  });

  it('/jobs overview: the schedule in the same words and the next run time of each scheduled job', () => {
    const overview = { ...job, paused: false, active_runs: [], last_run: null };
    const next = new Map([['cache_warming', Date.parse('2024-12-31T03:17:00Z')]]);
    const he = visibleText(formatOverview([overview], fc, next));
    expect(he).toContain(`מופעל · ${describeSchedule(job, 'he')} · הבאה 31/12 03:17 · עוד לא רץ`);
    expect(englishWords(he, ['cache_warming', 'cache'])).toEqual([]);
    const en = visibleText(formatOverview([overview], { t: messagesFor('en'), timeZone: 'UTC' }, next));
    expect(en).toContain('enabled · every 1 h · next 31/12 03:17 · never ran');
  });

  it('stuck reasons in Hebrew words: ChatOps, alerts (message_he {reason}); the dashboard file has the same', () => {
    const stuck = run({ status: 'running', stuck: true, stuck_reason: 'not_picked_up' });
    expect(visibleText(formatActive([stuck], fc))).toContain(
      `⚠️ תקוע (${describeStuckReason('not_picked_up', 'he')})`,
    );
    const rule = {
      name: 'job_stuck_alert',
      event_pattern: 'job_stuck',
      severity: 'critical' as const,
      cooldown_seconds: 0,
      message: 'stuck ({reason})',
      message_he: 'תקועה ({reason})',
      channels: ['log'],
    };
    const ev = { id: '1-0', name: 'job_stuck', time: 0, fields: { job_id: 'j', reason: 'running_too_long' } };
    expect(renderAlert(rule, ev, undefined, 'he').text).toBe('תקועה (רצה יותר מדי זמן)');
    expect(renderAlert(rule, ev, undefined, 'he').fields.reason).toBe('running_too_long');
    expect(renderAlert(rule, ev).text).toBe('stuck (running_too_long)');
    // Slack puts the severity in front: in Hebrew too.
    expect(renderAlert(rule, ev, undefined, 'he').severity_label).toBe('קריטי');
    expect(renderAlert(rule, ev).severity_label).toBe('CRITICAL');
    // The dashboard's Hebrew file says the reasons (and the day's plural) in the same words.
    const file = readFileSync(join(__dirname, '../../src/dashboard/public/i18n-he.js'), 'utf8');
    for (const r of STUCK_REASONS) {
      expect(describeStuckReason(r, 'he')).not.toBe(r);
      expect(file).toContain(`${r}: '${describeStuckReason(r, 'he')}'`);
    }
    expect(file).toContain(describeInterval(7 * 86_400, 'he').replace('כל 7 ', ''));
  });

  it('every Hebrew bot text is Hebrew: no English word but commands, settings and placeholders', () => {
    const t = messagesFor('he');
    const texts: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string') texts.push(v);
      else if (typeof v === 'function') texts.push(String(v('X1', 'X2', 'X3', 'X4')));
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(t);
    collect(visMessagesFor('he'));
    const left = texts
      .map((x) =>
        x.replace(
          /\/jobs(?: (?:active|failed|find|workers))?|&lt;\w+&gt;|<\/?b>|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|call_sid|X\d/g,
          '',
        ),
      )
      .flatMap((x) => x.match(/[A-Za-z]{2,}/g) ?? []);
    expect(left).toEqual([]);
  });
});
