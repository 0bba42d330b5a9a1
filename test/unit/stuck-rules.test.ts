import type { JobRun } from '../../src/monitor/run';
import { newRun } from '../../src/monitor/run';
import { join } from 'node:path';
import { JobRegistry } from '../../src/monitor/registry';
import {
  countByJob,
  describeStuck,
  findStuck,
  idleQueues,
  queuesWithoutWorkers,
  registryStuckPolicy,
  type StuckPolicy,
  stuckCutoff,
  stuckStatus,
  stuckVerdict,
  thresholdMs,
} from '../../src/monitor/stuck-rules';

const NOW = Date.parse('2030-01-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();
const policy: StuckPolicy = {
  defaultMinutes: 20,
  minutesFor: (id) => (id === 'slow_export' ? 90 : id === 'quick_ping' ? 0.05 : null),
};
const run = (over: Partial<JobRun>): JobRun => ({
  ...newRun('r1', { job_id: 'sync', queue: 'q', created_at: minutesAgo(30), trigger: 'api', user_id: null }),
  ...over,
});

describe('stuck rules', () => {
  it('flags a run running longer than the default threshold, with its minutes', () => {
    const s = stuckStatus(run({ status: 'running', started_at: minutesAgo(25.5) }), NOW, policy);
    expect(s).toMatchObject({ run_id: 'r1', job_id: 'sync', reason: 'running_too_long', minutes: 25.5 });
    expect(stuckStatus(run({ status: 'running', started_at: minutesAgo(19) }), NOW, policy)).toBeNull();
  });

  it("uses a job's own stuck_after_minutes, including fractions of a minute", () => {
    const slow = run({ job_id: 'slow_export', status: 'running', started_at: minutesAgo(60) });
    expect(stuckStatus(slow, NOW, policy)).toBeNull();
    expect(stuckStatus({ ...slow, started_at: minutesAgo(91) }, NOW, policy)?.minutes).toBe(91);
    const ping = run({
      job_id: 'quick_ping',
      status: 'running',
      started_at: new Date(NOW - 4000).toISOString(),
    });
    expect(stuckStatus(ping, NOW, policy)?.reason).toBe('running_too_long');
  });

  it('flags a pending run nobody picked up, but not one waiting for its retry', () => {
    const waiting = run({ status: 'pending', created_at: minutesAgo(21) });
    expect(stuckStatus(waiting, NOW, policy)).toMatchObject({ reason: 'not_picked_up', minutes: 21 });
    const retrying = run({
      status: 'pending',
      created_at: minutesAgo(60),
      started_at: minutesAgo(50),
      attempts: 1,
    });
    expect(stuckStatus(retrying, NOW, policy)).toBeNull();
    expect(stuckStatus(run({ status: 'pending', created_at: minutesAgo(5) }), NOW, policy)).toBeNull();
  });

  it('flags every pending run of a queue without workers as no_workers, ahead of not_picked_up', () => {
    const idle = new Set(['q']);
    const young = run({ status: 'pending', created_at: minutesAgo(2) });
    expect(stuckStatus(young, NOW, policy, idle)).toMatchObject({
      reason: 'no_workers',
      overdue: false,
      minutes: 2,
    });
    const old = run({ status: 'pending', created_at: minutesAgo(21) });
    expect(stuckStatus(old, NOW, policy, idle)).toMatchObject({ reason: 'no_workers', overdue: true });
    expect(stuckStatus(old, NOW, policy, new Set(['other']))).toMatchObject({ reason: 'not_picked_up' });
    // A running run is judged by its time alone (its worker is there, or stall recovery will tell).
    expect(stuckStatus(run({ status: 'running', started_at: minutesAgo(1) }), NOW, policy, idle)).toBeNull();
    expect(stuckStatus(run({ status: 'failed' }), NOW, policy, idle)).toBeNull();
    expect([
      ...idleQueues([
        { queue: 'q', waiting: 0, workers: 0 },
        { queue: 'r', waiting: 3, workers: 2 },
      ]),
    ]).toEqual(['q']);
  });

  it('never flags finished runs', () => {
    for (const status of ['completed', 'failed', 'skipped'] as const) {
      expect(stuckStatus(run({ status, started_at: minutesAgo(600) }), NOW, policy)).toBeNull();
    }
  });

  it('gives a run picked up again (stall recovery) a new episode, and the same run the same one later', () => {
    const first = stuckStatus(run({ status: 'running', started_at: minutesAgo(30) }), NOW, policy);
    const later = stuckStatus(run({ status: 'running', started_at: minutesAgo(30) }), NOW + 60_000, policy);
    const restarted = stuckStatus(run({ status: 'running', started_at: minutesAgo(21) }), NOW, policy);
    expect(later?.episode).toBe(first?.episode);
    expect(restarted?.episode).not.toBe(first?.episode);
  });

  it('finds every stuck run and counts them per job', () => {
    const runs = [
      run({ run_id: 'a', status: 'running', started_at: minutesAgo(40) }),
      run({ run_id: 'b', status: 'running', started_at: minutesAgo(41) }),
      run({ run_id: 'c', job_id: 'other', status: 'pending', created_at: minutesAgo(22) }),
      run({ run_id: 'd', status: 'running', started_at: minutesAgo(1) }),
    ];
    const stuck = findStuck(runs, NOW, policy);
    expect(stuck.map((s) => s.run_id)).toEqual(['a', 'b', 'c']);
    expect(countByJob(stuck)).toEqual({ sync: 2, other: 1 });
  });

  it('pre-filters by the smallest threshold of any job', () => {
    expect(stuckCutoff(NOW, policy, ['sync', 'slow_export'])).toBe(NOW - 20 * 60_000);
    expect(stuckCutoff(NOW, policy, ['sync', 'quick_ping'])).toBe(NOW - 3000);
  });

  it('reports queues that have waiting jobs and no worker', () => {
    expect(
      queuesWithoutWorkers([
        { queue: 'a', waiting: 3, workers: 0 },
        { queue: 'b', waiting: 0, workers: 0 },
        { queue: 'c', waiting: 5, workers: 2 },
      ]).map((q) => q.queue),
    ).toEqual(['a']);
  });

  it("one definition: the recordings timeout is recording_download's own threshold, and the monitor uses it too", () => {
    const shipped = JobRegistry.fromFile(join(__dirname, '../../config/jobs.yml'));
    const reg = shipped.withStuckDefault('recording_download', 300 / 60);
    const p = registryStuckPolicy(reg, 20);
    expect(thresholdMs(p, 'recording_download')).toBe(300_000);
    expect(thresholdMs(p, 'cache_warming')).toBe(20 * 60_000);
    const download = run({
      job_id: 'recording_download',
      status: 'running',
      started_at: new Date(NOW - 301_000).toISOString(),
    });
    // The monitor's verdict and the recordings' reason text come from the same rule.
    expect(stuckStatus(download, NOW, p)).toMatchObject({ reason: 'running_too_long', minutes: 5 });
    expect(describeStuck(stuckVerdict(download, NOW, 300_000)!)).toBe('running 301 s without completion');
    expect(stuckStatus({ ...download, job_id: 'cache_warming' }, NOW, p)).toBeNull();
    // A threshold set in jobs.yml wins over the setting that supplies the default.
    const own = JobRegistry.fromYaml(
      'dynamic_jobs:\n  - { job_id: recording_download, name: R, category: r, callback_name: x, stuck_after_minutes: 9 }\n',
    ).withStuckDefault('recording_download', 5);
    expect(own.get('recording_download')?.stuck_after_minutes).toBe(9);
  });
});
