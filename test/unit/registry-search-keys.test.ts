/** jobs.yml `search_keys`: validated as a list of payload keys; the shipped recording_download declares call_sid. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/config-file';
import { JobRegistry } from '../../src/monitor/registry';
import { searchTerms } from '../../src/monitor/run';

const FILE = 'config/jobs.yml';
const dyn = (extra: string) =>
  `dynamic_jobs:\n  - { job_id: rec, name: Rec, category: recordings, callback_name: quick, queue: q${extra} }`;

function problems(yaml: string): string[] {
  try {
    JobRegistry.fromYaml(yaml, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the file to be refused');
}

describe('search_keys in jobs.yml', () => {
  it('the shipped recording_download is searchable by call_sid', () => {
    const registry = JobRegistry.fromFile(join(__dirname, '../../config/jobs.yml'));
    expect(registry.searchKeysOf('recording_download')).toEqual(['call_sid']);
    expect(registry.get('recording_download')?.search_keys).toEqual(['call_sid']);
    expect(registry.searchKeysOf('cache_warming')).toEqual([]);
    expect(readFileSync(join(__dirname, '../../config/jobs.yml'), 'utf8')).toContain(
      'search_keys: [call_sid]',
    );
  });

  it('gives the terms a run is found by', () => {
    const registry = JobRegistry.fromYaml(dyn(', search_keys: [call_sid, account]'), FILE);
    expect(
      searchTerms({ call_sid: ' CA123 ', account: 42, other: 'x' }, registry.searchKeysOf('rec')),
    ).toEqual(['ca123', '42']);
  });

  it.each([
    [
      'a string instead of a list',
      ', search_keys: call_sid',
      'expected a list of payload keys, e.g. [call_sid]',
    ],
    ['a number in the list', ', search_keys: [call_sid, 5]', 'expected a payload key (a string)'],
    ['a key with a dot', ', search_keys: [a.b]', 'expected a payload key: letters, digits and _'],
  ])('refuses %s, naming file and field', (_name, extra, reason) => {
    const list = problems(dyn(extra));
    expect(list.join('\n')).toContain(`${FILE}: dynamic_jobs[0].search_keys`);
    expect(list.join('\n')).toContain(reason);
  });

  it('refuses a bad static job entry too', () => {
    const yaml =
      'jobs:\n  - { job_id: a_job, name: A, category: test, job_type: repeating, interval_seconds: 60, callback_name: quick, queue: q, search_keys: [""] }';
    expect(problems(yaml).join('\n')).toContain(`${FILE}: jobs[0].search_keys[0]: expected a payload key`);
  });
});
