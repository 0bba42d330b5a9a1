import {
  type AlertRule,
  cooldownSubject,
  matchesPattern,
  renderAlert,
  retryDelayMs,
} from '../../src/monitor/alert-rules';
import type { MonitorEvent } from '../../src/monitor/events';
import { failureEvents } from '../../src/monitor/failure-events';

const rule: AlertRule = {
  name: 'job_failure_alert',
  event_pattern: 'job_failed',
  severity: 'error',
  cooldown_seconds: 300,
  message: '❌ Job {job_id} failed: {error}',
  channels: ['log'],
};
const ev = (fields: MonitorEvent['fields'], name = 'job_failed'): MonitorEvent => ({
  id: '1-0',
  name,
  fields,
  time: 0,
});

describe('alert rules', () => {
  it('matches event names exactly or by glob', () => {
    expect(matchesPattern('job_failed', 'job_failed')).toBe(true);
    expect(matchesPattern('job_failed', 'job_failed_twice')).toBe(false);
    expect(matchesPattern('job_*', 'job_stuck')).toBe(true);
    expect(matchesPattern('job_*', 'queue_no_workers')).toBe(false);
    expect(matchesPattern('queue_no_worker?', 'queue_no_workers')).toBe(true);
    expect(matchesPattern('job.failed', 'job_failed')).toBe(false);
  });

  it('fills placeholders and appends the run link when WEBAPP_URL is set', () => {
    const a = renderAlert(
      rule,
      ev({ job_id: 'drive_sync', run_id: 'a1b2', error: 'timeout' }),
      'https://app.test/',
    );
    expect(a.text).toBe('❌ Job drive_sync failed: timeout\nhttps://app.test/jobs/monitor?run_id=a1b2');
    expect(a.link).toBe('https://app.test/jobs/monitor?run_id=a1b2');
    expect(renderAlert(rule, ev({ job_id: 'x', run_id: 'r' })).text).toBe('❌ Job x failed: ');
  });

  it('places the link where the template asks for it, and only once', () => {
    const a = renderAlert(
      { ...rule, message: '{job_id}: see {link}' },
      ev({ job_id: 'j', run_id: 'r' }),
      'http://w',
    );
    expect(a.text).toBe('j: see http://w/jobs/monitor?run_id=r');
  });

  it('shows run ids this system makes as they are, any other percent-encoded (text, fields, link)', () => {
    const tpl = { ...rule, message: 'run {run_id}' };
    for (const id of [
      '0b7c9a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21',
      'rdl-CA123-2',
      'repeat:quick_job:1700000000000',
    ])
      expect(renderAlert(tpl, ev({ run_id: id })).text).toBe(`run ${id}`);
    const hostile = '<img src=x onerror=alert(1)>&<!channel>';
    const a = renderAlert(tpl, ev({ run_id: hostile }), 'http://w');
    expect(a.text).toBe(
      `run ${encodeURIComponent(hostile)}\nhttp://w/jobs/monitor?run_id=${encodeURIComponent(hostile)}`,
    );
    expect(a.text).not.toMatch(/[<>&]/);
    expect(a.fields.run_id).toBe(encodeURIComponent(hostile));
  });

  it('keeps cooldowns per job, else per queue', () => {
    expect(cooldownSubject(ev({ job_id: 'a', queue: 'q' }))).toBe('a');
    expect(cooldownSubject(ev({ queue: 'q' }, 'queue_no_workers'))).toBe('q');
  });

  it('backs off exponentially up to a minute', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(n, 500))).toEqual([500, 1000, 2000]);
    expect(retryDelayMs(20, 1000)).toBe(60_000);
  });

  it('turns a run failed for good into one job_failed event keyed by run id', () => {
    const identity = {
      job_id: 'boom',
      queue: 'q',
      created_at: '2030-01-01T00:00:00Z',
      trigger: 'api' as const,
      user_id: null,
    };
    const events = failureEvents([
      {
        run_id: 'r1',
        seq: '2',
        identity,
        patch: { status: 'failed', error_message: 'no', attempts: 3 },
        logs: [],
      },
      { run_id: 'r2', seq: '2', identity, patch: { status: 'pending', attempts: 1 }, logs: [] },
      { run_id: 'r3', seq: '2', identity, patch: { status: 'completed' }, logs: [] },
    ]);
    expect(events).toEqual([
      {
        key: 'failed:r1',
        name: 'job_failed',
        fields: { job_id: 'boom', run_id: 'r1', queue: 'q', error: 'no', attempts: 3 },
      },
    ]);
  });
});
