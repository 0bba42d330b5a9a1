import { RedisRunStore } from '../../src/store/redis-run-store';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis';
import { runStoreContract } from './run-store.contract';

const redis = testRedis();
afterAll(() => redis.quit());

runStoreContract('RedisRunStore', async () => {
  const prefix = uniquePrefix('store');
  return { store: new RedisRunStore(redis, { prefix }), cleanup: () => deletePrefix(redis, prefix) };
});

describe('RedisRunStore retention', () => {
  it('gives every key a TTL so nothing outlives the retention', async () => {
    const prefix = uniquePrefix('ttl');
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    await store.apply([
      {
        run_id: 'r1',
        seq: '1',
        identity: {
          job_id: 'j',
          queue: 'q',
          created_at: new Date().toISOString(),
          trigger: 'api',
          user_id: 'u',
        },
        patch: { status: 'running' },
        logs: [{ time: new Date().toISOString(), level: 'info', message: 'x', seq: '1' }],
      },
    ]);
    const keys = (await redis.keys(`${prefix}*`)).filter((k) => !k.endsWith('_registry'));
    expect(keys.length).toBeGreaterThanOrEqual(7);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(3_500_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    }
    await deletePrefix(redis, prefix);
  });
});
