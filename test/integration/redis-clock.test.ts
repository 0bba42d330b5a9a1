import { RedisClock } from '../../src/queues/redis-clock';
import { testRedis } from '../helpers/redis';

/** Seqs a worker stamps on its own writes are on Redis' clock and strictly increase. */
const redis = testRedis();
afterAll(() => redis.quit());

it('stamps seqs on Redis time, strictly increasing, never equal to a stream id of the same ms', async () => {
  const clock = new RedisClock(redis);
  await clock.sync();
  const [secs, micros] = await redis.time();
  const redisMs = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
  expect(Math.abs(clock.now() - redisMs)).toBeLessThan(1000);
  const seqs = Array.from({ length: 5000 }, () => clock.seq());
  for (let i = 1; i < seqs.length; i++) expect(seqs[i] > seqs[i - 1]).toBe(true);
  // Sub-ms part from 50,000,000: above any stream entry's sequence within one millisecond.
  expect(seqs.every((s) => Number(s.split('-')[1]) >= 50_000_000)).toBe(true);
  // The same form as seqFromEventId gives stream ids, so the two compare as strings.
  const id = (await redis.xadd('{jm-test}:clock-stream', '*', 'f', 'v')) as string;
  await redis.del('{jm-test}:clock-stream');
  // The offset is exact to half a round trip: a seq taken well after the entry sorts after it.
  await new Promise((r) => setTimeout(r, 200));
  const later = clock.seq();
  expect(later.length).toBe(24);
  expect(later > `${id.split('-')[0].padStart(15, '0')}-${id.split('-')[1].padStart(8, '0')}`).toBe(true);
});
