/** RUN_RETENTION_DAYS: unset means "the stores' default, and MongoDB keeps a longer existing TTL". */
import { loadConfig, runRetentionSeconds } from '../../src/config';
import { ConfigError } from '../../src/config-file';

const load = (v?: string) => loadConfig(v === undefined ? {} : { RUN_RETENTION_DAYS: v });

it('RUN_RETENTION_DAYS unset or empty leaves the retention to the stores; a value is applied in seconds', () => {
  expect(runRetentionSeconds(load())).toBeUndefined();
  expect(runRetentionSeconds(load(''))).toBeUndefined(); // docker-compose passes `${RUN_RETENTION_DAYS:-}`
  expect(runRetentionSeconds(load('7'))).toBe(604_800);
  expect(runRetentionSeconds(load('30'))).toBe(2_592_000);
  expect(runRetentionSeconds(load('0.5'))).toBe(43_200);
  expect(runRetentionSeconds(load('0.0000001'))).toBe(60); // never a TTL of 0 (MongoDB would delete at once)
});

it('a bad RUN_RETENTION_DAYS stops start-up naming the variable', () => {
  for (const [v, why] of [
    ['0', 'positive'],
    ['-3', 'positive'],
    ['seven', 'number of days'],
    ['4000', 'at most 3650'],
  ]) {
    expect(() => load(v)).toThrow(ConfigError);
    expect(() => load(v)).toThrow(new RegExp(`environment: RUN_RETENTION_DAYS: .*${why}`));
  }
});
