/** Malformed jobs.yml: start-up fails with the file, the path inside it and the reason. */
import { ConfigError } from '../../src/config-file';
import { JobRegistry } from '../../src/monitor/registry';

const FILE = 'config/jobs.yml';
const ok =
  '{ job_id: a_job, name: A, category: test, job_type: repeating, interval_seconds: 60, callback_name: quick, queue: q }';

function problems(yaml: string): string[] {
  try {
    JobRegistry.fromYaml(yaml, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the file to be refused');
}

describe('jobs.yml validation names file, path and reason', () => {
  it.each([
    [
      'interval as a string',
      `jobs:\n  - ${ok}\n  - ${ok.replace('a_job', 'b_job').replace('60', '"sixty"')}`,
      `${FILE}: jobs[1].interval_seconds: expected a positive number`,
    ],
    [
      'negative interval',
      `jobs:\n  - ${ok.replace('60', '-5')}`,
      `${FILE}: jobs[0].interval_seconds: expected a positive number`,
    ],
    [
      'enabled not a boolean',
      `jobs:\n  - ${ok.replace('queue: q', 'queue: q, enabled: "yes"')}`,
      `${FILE}: jobs[0].enabled: expected true or false`,
    ],
    [
      'unknown key',
      `jobs:\n  - ${ok.replace('queue: q', 'queue: q, intervall: 5')}`,
      `${FILE}: jobs[0]: Unrecognized key: "intervall"`,
    ],
    ['unknown top-level key', `jobs: []\nschedules: []`, `${FILE}: (root): Unrecognized key: "schedules"`],
    [
      'duplicate job_id across lists',
      `jobs:\n  - ${ok}\ndynamic_jobs:\n  - { job_id: a_job, name: X, category: test, callback_name: quick }`,
      `${FILE}: dynamic_jobs[0].job_id: duplicate job_id "a_job" (first at jobs[0])`,
    ],
    [
      'duplicate job_id in jobs',
      `jobs:\n  - ${ok}\n  - ${ok}`,
      `${FILE}: jobs[1].job_id: duplicate job_id "a_job" (first at jobs[0])`,
    ],
    [
      'bad cron',
      `jobs:\n  - { job_id: c, name: C, category: test, job_type: cron, cron: "61 * * * *", callback_name: quick }`,
      `${FILE}: jobs[0].cron: invalid cron expression`,
    ],
    [
      'cron missing',
      `jobs:\n  - { job_id: c, name: C, category: test, job_type: cron, callback_name: quick }`,
      `${FILE}: jobs[0].cron: required for job_type cron`,
    ],
    [
      'interval missing',
      `jobs:\n  - { job_id: c, name: C, category: test, job_type: repeating, callback_name: quick }`,
      `${FILE}: jobs[0].interval_seconds: required for job_type repeating`,
    ],
    [
      'unknown job_type',
      `jobs:\n  - ${ok.replace('repeating', 'hourly')}`,
      `${FILE}: jobs[0].job_type: expected repeating, cron or once`,
    ],
    [
      'bad job_id',
      `jobs:\n  - ${ok.replace('a_job', 'A Job!')}`,
      `${FILE}: jobs[0].job_id: expected lowercase letters, digits and _`,
    ],
    ['jobs not a list', 'jobs: { a: 1 }', `${FILE}: jobs: expected a list of jobs`],
    [
      'dynamic job made triggerable',
      `dynamic_jobs:\n  - { job_id: d, name: D, category: test, callback_name: quick, can_trigger: true }`,
      `${FILE}: dynamic_jobs[0].can_trigger: dynamic jobs cannot be triggered by hand: expected false`,
    ],
    ['invalid YAML', 'jobs:\n  - { job_id: a\n   bad', `${FILE}: line`],
  ])('%s', (_name, yaml, expected) => {
    const found = problems(yaml);
    expect(found.some((p) => p.startsWith(expected))).toBe(true);
    for (const p of found) expect(p.startsWith(`${FILE}: `)).toBe(true);
  });

  it('reports every problem of the file at once', () => {
    const found = problems(
      `jobs:\n  - ${ok.replace('60', '0')}\n  - ${ok.replace('a_job', 'b_job').replace('repeating', 'weekly')}`,
    );
    expect(found).toEqual([
      `${FILE}: jobs[0].interval_seconds: expected a positive number`,
      `${FILE}: jobs[1].job_type: expected repeating, cron or once`,
    ]);
  });

  it('a missing file names the file', () => {
    expect(() => JobRegistry.fromFile('/nonexistent/jobs.yml')).toThrow(
      '/nonexistent/jobs.yml: cannot read file: ENOENT',
    );
  });
});
