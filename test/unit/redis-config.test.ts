import { ConfigError } from '../../src/config-file';
import { clusterDatabaseProblem, loadConfig } from '../../src/config';
import { createRedis, describeTarget, parseHostPort, redisMode } from '../../src/queues/redis';

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

it('refuses a database number in REDIS_URL with a cluster (Cluster has only database 0), naming REDIS_URL', () => {
  const problem = problemOf({
    REDIS_URL: 'redis://:pw@10.0.0.1:6379/2',
    REDIS_CLUSTER_NODES: '10.0.0.1:7000',
  });
  expect(problem).toBe(
    'environment: REDIS_URL: Redis Cluster has only database 0 (it can\'t SELECT 2); remove "/2" from REDIS_URL or unset REDIS_CLUSTER_NODES',
  );
  expect(problem).not.toContain('pw');
  // Database 0 (or none) is what a cluster has; one server and Sentinel may select another.
  for (const REDIS_URL of ['redis://10.0.0.1:6379', 'redis://10.0.0.1:6379/', 'redis://10.0.0.1:6379/0'])
    expect(loadConfig({ REDIS_URL, REDIS_CLUSTER_NODES: 'a:7000' }).REDIS_CLUSTER_NODES).toEqual(['a:7000']);
  expect(loadConfig({ REDIS_URL: 'redis://h:6379/2', REDIS_SENTINELS: 's:26379' }).REDIS_URL).toBe(
    'redis://h:6379/2',
  );
  expect(loadConfig({ REDIS_URL: 'redis://h:6379/3' }).REDIS_URL).toBe('redis://h:6379/3');
  // Code that builds a connection itself gets the same answer, before anything connects.
  expect(() =>
    createRedis(
      { REDIS_URL: 'redis://h:6379/5', REDIS_CLUSTER_NODES: ['127.0.0.1:1'] },
      { lazyConnect: true },
    ),
  ).toThrow(new ConfigError(`environment: REDIS_URL: ${clusterDatabaseProblem('redis://h/5')}`));
});

it('refuses a REDIS_URL path that is not a database number', () => {
  expect(problemOf({ REDIS_URL: 'redis://h:6379/queues' })).toBe(
    'environment: REDIS_URL: expected redis://[user:password@]host:port[/database number]',
  );
  expect(problemOf({ REDIS_URL: 'http://h:6379' })).toBe(
    'environment: REDIS_URL: expected a redis: or rediss: URL',
  );
});

it('reads REDIS_WAIT_REPLICAS: default 0 (no WAIT), a whole number of replicas', () => {
  expect(loadConfig({}).REDIS_WAIT_REPLICAS).toBe(0);
  expect(loadConfig({ REDIS_WAIT_REPLICAS: '2' }).REDIS_WAIT_REPLICAS).toBe(2);
  expect(problemOf({ REDIS_WAIT_REPLICAS: '-1' })).toMatch(/^environment: REDIS_WAIT_REPLICAS: /);
  expect(problemOf({ REDIS_WAIT_REPLICAS: 'one' })).toBe(
    'environment: REDIS_WAIT_REPLICAS: expected a number',
  );
});
