import { join } from 'node:path';
import { ConfigError } from '../../src/config-file';
import { JobRegistry } from '../../src/monitor/registry';

/** Runs `fn` and returns the ConfigError's problem lines (fails the test when nothing is thrown). */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const job = (extra: string) =>
  `{ job_id: a_job, name: A, category: maintenance, callback_name: quick, queue: q, ${extra} }`;

describe('JobRegistry', () => {
  it('loads the shipped config/jobs.yml with the example cache_warming job', () => {
    const reg = JobRegistry.fromFile(join(__dirname, '../../config/jobs.yml'));
    const cw = reg.get('cache_warming');
    expect(cw).toMatchObject({
      job_type: 'repeating',
      interval_seconds: 3600,
      can_trigger: true,
      enabled: true,
    });
    const dynamic = reg.jobs.filter((j) => j.is_dynamic);
    expect(dynamic.length).toBeGreaterThan(0);
    expect(dynamic.every((j) => !j.can_trigger)).toBe(true);
  });

  it('names file, path and reason for a bad interval', () => {
    const yml = `jobs:\n  - ${job('job_type: repeating, interval_seconds: 60')}\n  - ${job('job_type: repeating, interval_seconds: 60').replace('a_job', 'b_job')}\n  - ${job('job_type: repeating, interval_seconds: -5').replace('a_job', 'c_job')}\n`;
    expect(problemsOf(() => JobRegistry.fromYaml(yml, 'config/jobs.yml'))).toEqual([
      'config/jobs.yml: jobs[2].interval_seconds: expected a positive number',
    ]);
  });

  it.each([
    [
      'a string interval',
      job('job_type: repeating, interval_seconds: "often"'),
      'jobs[0].interval_seconds: expected a positive number',
    ],
    [
      'a missing interval',
      job('job_type: repeating'),
      'jobs[0].interval_seconds: required for job_type repeating',
    ],
    [
      'an unknown job_type',
      job('job_type: hourly, interval_seconds: 5'),
      'jobs[0].job_type: expected repeating, cron or once',
    ],
    ['a bad cron', job('job_type: cron, cron: "61 * * * *"'), 'jobs[0].cron: invalid cron expression'],
    ['an unknown key', job('job_type: once, colour: red'), 'jobs[0]: Unrecognized key: "colour"'],
    [
      'a non-boolean enabled',
      job('job_type: once, enabled: "yes"'),
      'jobs[0].enabled: expected true or false',
    ],
  ])('rejects %s', (_name, entry, expected) => {
    const problems = problemsOf(() => JobRegistry.fromYaml(`jobs:\n  - ${entry}\n`, 'jobs.yml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`jobs.yml: ${expected}`);
  });

  it('rejects duplicate ids across static and dynamic jobs', () => {
    const yml = `jobs:\n  - ${job('job_type: once')}\ndynamic_jobs:\n  - { job_id: a_job, name: Dup, category: x, callback_name: quick }\n`;
    expect(problemsOf(() => JobRegistry.fromYaml(yml, 'jobs.yml'))).toEqual([
      'jobs.yml: dynamic_jobs[0].job_id: duplicate job_id "a_job" (first at jobs[0])',
    ]);
  });

  it('refuses a dynamic job marked triggerable', () => {
    const yml =
      'dynamic_jobs:\n  - { job_id: d, name: D, category: x, callback_name: quick, can_trigger: true }\n';
    expect(problemsOf(() => JobRegistry.fromYaml(yml, 'jobs.yml'))[0]).toContain(
      'dynamic_jobs[0].can_trigger: dynamic jobs cannot be triggered by hand',
    );
  });

  it('reports invalid YAML with its line', () => {
    expect(problemsOf(() => JobRegistry.fromYaml('jobs:\n  - { job_id: [\n', 'jobs.yml'))[0]).toMatch(
      /^jobs\.yml: line \d+, column \d+: invalid YAML/,
    );
  });

  it('reports a missing file by name', () => {
    expect(problemsOf(() => JobRegistry.fromFile('/nonexistent/jobs.yml'))[0]).toBe(
      '/nonexistent/jobs.yml: cannot read file: ENOENT',
    );
  });

  it('lists scheduled jobs, queues and categories; unknown processors are named', () => {
    const yml = `jobs:
  - { job_id: every, name: E, category: b, job_type: repeating, interval_seconds: 10, callback_name: quick, queue: q1 }
  - { job_id: nightly, name: N, category: a, job_type: cron, cron: "0 3 * * *", callback_name: nope, queue: q2 }
  - { job_id: off, name: O, category: a, job_type: repeating, interval_seconds: 10, enabled: false, callback_name: quick, queue: q1 }
  - { job_id: one, name: One, category: a, job_type: once, callback_name: quick, queue: q1 }
`;
    const reg = JobRegistry.fromYaml(yml);
    expect(reg.scheduled().map((j) => j.job_id)).toEqual(['every', 'nightly']);
    expect(reg.queues()).toEqual(['q1', 'q2']);
    expect(reg.categories()).toEqual(['a', 'b']);
    expect(problemsOf(() => reg.assertProcessors(new Set(['quick']), 'jobs.yml'))).toEqual([
      'jobs.yml: jobs[nightly].callback_name: unknown processor "nope"',
    ]);
  });
});
