import { RedisKeys } from '../../src/queues/redis-keys';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag (or the whole key) mod 16384. */
function calculateSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

const keys = new RedisKeys('{jm}');

it('computes slots as Redis does', () => {
  expect(calculateSlot('123456789')).toBe(0x31c3 % 16384); // the CRC16 check value from the Cluster spec
  expect(calculateSlot('{user1000}.following')).toBe(calculateSlot('user1000'));
});

it('keeps the default prefix names unchanged, with or without braces', () => {
  expect(keys.runsBase).toBe('{jm}:runs:');
  expect(new RedisKeys('jm').run('r1')).toBe(keys.run('r1'));
  expect(keys.recordingRetryAttempts('CA1')).toBe('{jm}:recording_retry_attempts:CA1');
  expect(keys.queuePrefix('tq')).toBe('{jm:tq}');
  expect(() => new RedisKeys('{}')).toThrow(/no name/);
});

it('puts every project key in one Cluster slot', () => {
  const own = [
    keys.run('r'),
    keys.runLogs('r'),
    keys.runLeaf('j|completed|api'),
    keys.runLeafDir,
    keys.runUserLeaf('u', 'j|completed|api'),
    keys.runUserDir('u'),
    keys.runUserRegistry,
    keys.runStuck,
    keys.runTerm('order-1'),
    keys.trackerCheckpoint('tq'),
    keys.schedulerQueues,
    keys.scheduledOnce('j'),
    keys.jobLock('j'),
    keys.monitorLock,
    keys.eventsStream,
    keys.eventOnce('stuck:r:1'),
    keys.alertCooldown('rule:j'),
    keys.metric('runs'),
    keys.metricCounted('r'),
    keys.recordingUrls,
    keys.recordingGeneration('CA'),
    keys.recordingRetryAttempts('CA'),
    keys.auditStream,
    keys.pausedJobs,
    keys.bulk('b1'),
    keys.bulkPending,
    keys.retryClaim('r'),
  ];
  expect(new Set(own.map((k) => calculateSlot(k)))).toEqual(new Set([calculateSlot(keys.tag)]));
});

it('gives each queue its own slot, shared by all its keys', () => {
  const queues = ['default', 'recordings', 'maintenance', 'tq', 'hq'];
  const slots = queues.map((q) => calculateSlot(keys.queueKey(q, 'wait')));
  expect(new Set(slots).size).toBe(queues.length);
  for (const q of queues) {
    expect(calculateSlot(keys.queueKey(q, 'events'))).toBe(calculateSlot(keys.queueKey(q, 'job-1')));
  }
});
