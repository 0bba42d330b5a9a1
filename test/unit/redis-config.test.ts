import { ConfigError } from '../../src/config-file';
import { loadConfig } from '../../src/config';
import { describeTarget, parseHostPort, redisMode } from '../../src/queues/redis';

function problemOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

it('reads REDIS_CLUSTER_NODES and REDIS_SENTINELS as host:port lists', () => {
  const c = loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b:7001,[::1]:7002 ' });
  expect(c.REDIS_CLUSTER_NODES).toEqual(['10.0.0.1:7000', 'redis-b:7001', '[::1]:7002']);
  expect(redisMode(c)).toBe('cluster');
  const s = loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'prod' });
  expect(redisMode(s)).toBe('sentinel');
  expect(s.REDIS_SENTINEL_NAME).toBe('prod');
  const d = loadConfig({});
  expect([d.REDIS_CLUSTER_NODES, d.REDIS_SENTINELS, d.REDIS_SENTINEL_NAME, redisMode(d)]).toEqual([
    [],
    [],
    'mymaster',
    'single',
  ]);
});

it('refuses a malformed node and both modes at once, naming the variable', () => {
  expect(problemOf({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toMatch(
    /^environment: REDIS_CLUSTER_NODES\[0\]: expected host:port/,
  );
  expect(problemOf({ REDIS_SENTINELS: 'a:1,b' })).toMatch(
    /^environment: REDIS_SENTINELS\[1\]: expected host:port/,
  );
  expect(problemOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' })).toMatch(/not both/);
  expect(() => parseHostPort('a:99999')).toThrow(/host:port/);
  expect(parseHostPort('[::1]:6379')).toEqual({ host: '::1', port: 6379 });
});

it('describes where it looked without credentials', () => {
  expect(describeTarget({ REDIS_URL: 'redis://user:secret@db.example:6380/2' })).toBe(
    'redis://db.example:6380/2 (REDIS_URL)',
  );
  expect(
    describeTarget({ REDIS_URL: 'redis://:pw@x:1', REDIS_SENTINELS: ['s1:26379'], REDIS_SENTINEL_NAME: 'm' }),
  ).toBe('Sentinel s1:26379 (REDIS_SENTINELS, master "m")');
});
