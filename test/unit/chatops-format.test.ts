import {
  decodeAction,
  encodeAction,
  MAX_CALLBACK_BYTES,
  refFor,
  refMatches,
} from '../../src/chatops/callback-data';
import {
  type FormatContext,
  formatActive,
  formatFailed,
  formatJobDetails,
  formatUsage,
  formatWhen,
  logsUrl,
} from '../../src/chatops/format';
import { escapeHtml, visibleText } from '../../src/chatops/html';
import { messagesFor } from '../../src/chatops/i18n';
import { splitMessage } from '../../src/chatops/split';
import type { PublicJob } from '../../src/monitor/jobs-service';
import { type JobRun, newRun } from '../../src/monitor/run';
import { balanced } from '../helpers/telegram';

const fc: FormatContext = { t: messagesFor('en'), webappUrl: 'https://ops.example.com/', timeZone: 'UTC' };
const NASTY = 'boom _*[`<b>bold</b> & "quoted"';

function run(over: Partial<JobRun>): JobRun {
  return {
    ...newRun('m1', {
      job_id: 'cache_warming',
      queue: 'q',
      created_at: '2024-12-30T14:23:00.000Z',
      trigger: 'manual',
      user_id: null,
    }),
    ...over,
  };
}

describe('HTML escaping', () => {
  it('escapes & < > " so a value never adds formatting, and the user still sees it verbatim', () => {
    const html = escapeHtml(NASTY);
    expect(html).toBe('boom _*[`&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;');
    expect(visibleText(html)).toBe(NASTY);
  });
});

describe('reply formats', () => {
  it('/jobs active: the seed shape with progress, items and a logs link per run', () => {
    const html = formatActive(
      [
        run({ run_id: 'abc123', status: 'running', progress: 45, processed_items: 450, total_items: 1000 }),
        run({ run_id: 'p1', job_id: 'queue_cleanup', status: 'pending' }),
      ],
      fc,
    );
    expect(html.split('\n')[0]).toBe('⚡ Active runs:');
    expect(visibleText(html)).toContain('🔄 cache_warming - 45% (450/1000)');
    expect(visibleText(html)).toContain('⏳ queue_cleanup - pending');
    expect(html).toContain('<a href="https://ops.example.com/jobs/monitor?run_id=abc123">📋 Logs</a>');
    expect(formatActive([], fc)).toBe('⚡ No active runs right now.');
  });

  it('/jobs active: a run the stuck monitor flagged says so with ⚠️, in English and Hebrew', () => {
    const stuck = run({
      run_id: 's1',
      status: 'running',
      progress: 10,
      stuck: true,
      stuck_reason: 'running_too_long',
    });
    expect(visibleText(formatActive([stuck], fc))).toContain(
      '🔄 cache_warming - 10% ⚠️ stuck (running_too_long)',
    );
    const he = formatActive([stuck], { ...fc, t: messagesFor('he'), locale: 'he' });
    expect(visibleText(he)).toContain('⚠️ תקוע (רצה יותר מדי זמן)');
  });

  it('/jobs failed: job, date, the error escaped in code style, and a logs link; none without WEBAPP_URL', () => {
    const failed = run({ run_id: 'xyz789', job_id: 'drive_sync', status: 'failed', error_message: NASTY });
    const html = formatFailed([failed], fc);
    expect(html).toContain('❌ <code>drive_sync</code> 30/12 14:23');
    expect(html).toContain(`<code>${escapeHtml(NASTY)}</code>`);
    expect(html).not.toContain('<b>bold');
    expect(balanced(html)).toBe(true);
    expect(html).toContain('href="https://ops.example.com/jobs/monitor?run_id=xyz789"');
    expect(formatFailed([failed], { ...fc, webappUrl: undefined })).not.toContain('<a ');
  });

  it('cuts the query string (a signature) of a URL in an error, as the API does', () => {
    const failed = run({
      status: 'failed',
      error_message: 'GET https://cdn.example.com/a.mp3?sig=SIGSECRET failed',
    });
    const text = visibleText(formatFailed([failed], fc));
    expect(text).toContain('GET https://cdn.example.com/a.mp3?… failed');
    expect(text).not.toContain('SIGSECRET');
  });

  it('clips very long errors so one run never fills a message', () => {
    const html = formatFailed([run({ status: 'failed', error_message: 'x'.repeat(5000) })], fc);
    expect(html.length).toBeLessThan(600);
  });

  it('/jobs <job_id>: definition and runs; a hostile job name or description is escaped', () => {
    const job = {
      job_id: 'cache_warming',
      name: '<i>Warm</i>',
      category: 'cache',
      job_type: 'repeating',
      interval_seconds: 3600,
      cron: null,
      enabled: false,
      allow_concurrent: false,
      queue: 'q',
      timeout_seconds: null,
      stuck_after_minutes: null,
      description: 'a & b',
      can_trigger: true,
      is_dynamic: false,
      schedule: 'every 1 h',
    } satisfies PublicJob;
    const html = formatJobDetails(
      job,
      [run({ status: 'completed', duration_ms: 5200, started_at: '2024-12-30T14:23:00Z' })],
      fc,
    );
    expect(html).toContain('<b>&lt;i&gt;Warm&lt;/i&gt;</b>');
    expect(html).toContain('<i>a &amp; b</i>');
    // The dashboard's words (describeSchedule), not raw seconds.
    expect(visibleText(html)).toContain('Schedule: every 1 h');
    expect(visibleText(html)).toContain('State: disabled');
    expect(visibleText(html)).toContain('✅ 30/12 14:23 completed · 5.2 s · manual m1');
    expect(balanced(html)).toBe(true);
  });

  it('usage lists the commands and categories, in Hebrew with BOT_LOCALE=he', () => {
    const en = visibleText(formatUsage(['cache', 'sync'], fc, 'nope<b>'));
    expect(en).toContain('No job or category nope<b>.');
    expect(en).toContain('/jobs <job_id> - a job and its 5 latest runs');
    expect(en).toContain('Categories: cache, sync');
    const he = visibleText(formatUsage(['cache'], { ...fc, t: messagesFor('he') }));
    expect(he).toContain('פקודות /jobs');
    expect(he).toContain('קטגוריות: cache');
  });

  it('formats dates as DD/MM HH:mm in the given zone and builds logs URLs', () => {
    expect(formatWhen('2024-12-30T14:23:59Z', 'UTC')).toBe('30/12 14:23');
    expect(formatWhen('2024-12-30T22:05:00Z', 'Asia/Jerusalem')).toBe('31/12 00:05');
    expect(logsUrl('https://x.test/app/', 'a b')).toBe('https://x.test/app/jobs/monitor?run_id=a%20b');
    expect(logsUrl(undefined, 'm1')).toBeUndefined();
  });
});

describe('splitting long replies', () => {
  const more = '<a href="https://x.test/jobs/monitor">… more in the dashboard</a>';
  const block = (i: number) =>
    `🔄 <code>job_${i}</code> - ${'n'.repeat(100)}\n   <a href="https://x.test/${i}">📋 Logs</a>`;

  it('keeps short replies whole', () => {
    expect(splitMessage('hello', { more })).toEqual(['hello']);
  });

  it('splits between blocks: every part ≤ 4096, tags balanced, nothing lost or reordered', () => {
    const html = Array.from({ length: 60 }, (_, i) => block(i)).join('\n\n');
    const parts = splitMessage(html, { more });
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.length).toBeLessThanOrEqual(5);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(balanced(p)).toBe(true);
    }
    expect(parts.join('\n\n')).toBe(html);
  });

  it('cuts after 5 parts with the "more in the dashboard" link', () => {
    const html = Array.from({ length: 400 }, (_, i) => block(i)).join('\n\n');
    const parts = splitMessage(html, { more });
    expect(parts).toHaveLength(5);
    expect(parts[4].endsWith(more)).toBe(true);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(4096);
  });

  it('cuts a single overlong line as plain text, never inside an entity', () => {
    const html = `<code>${'&amp;'.repeat(2000)}</code>`;
    const parts = splitMessage(html, { more });
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(p).not.toMatch(/&(a|am|amp)?$/);
      expect(p).not.toContain('<code>');
    }
    expect(parts.join('')).toBe('&amp;'.repeat(2000));
  });
});

describe('callback data', () => {
  it('round-trips every action and stays within 64 bytes even for 64-character ids', () => {
    const longJob = `j${'x'.repeat(63)}`;
    const longRun = `repeat:${longJob}:1735568580000`;
    const at = Date.parse('2024-12-30T14:23:00Z');
    for (const action of [
      { kind: 'run_ask', ref: refFor('cache_warming') },
      { kind: 'run_confirm', ref: refFor(longJob), at },
      { kind: 'retry_ask', ref: refFor(longRun) },
      { kind: 'retry_confirm', ref: refFor(longRun), at },
      { kind: 'cancel' },
    ] as const) {
      const data = encodeAction(action);
      expect(Buffer.byteLength(data)).toBeLessThanOrEqual(MAX_CALLBACK_BYTES);
      expect(decodeAction(data)).toEqual(action);
    }
    expect(refFor('cache_warming')).toBe('cache_warming');
    expect(refFor(longJob)).toMatch(/^#[\w-]{16}$/);
    expect(refMatches(refFor(longRun), longRun)).toBe(true);
    expect(refMatches(refFor(longRun), `${longRun}1`)).toBe(false);
    expect(decodeAction('something else')).toBeNull();
  });
});
