import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
    keys.runBucket(20428, 3),
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

describe("the run store's Lua builds the same key names as RedisKeys", () => {
  // The Lua source as written (the store passes RedisKeys.runsBase as ARGV[1], its `base`).
  const lua = readFileSync(join(__dirname, '../../src/store/redis-run-store-lua.ts'), 'utf8');
  const user = 'משתמש-🚀';
  const values: Record<string, string> = {
    base: keys.runsBase,
    runId: 'run-1',
    direct: 'run-1',
    day: '20428',
    shard: '3',
    user,
    '#user': String(Buffer.byteLength(user, 'utf8')), // Lua's # is the length in bytes
    leaf: 'job_a|failed|manual',
    'X[k]': 'order-1',
  };
  const expected: Record<string, string> = {
    'r:': keys.run('run-1'),
    'b:': keys.runBucket(20428, 3),
    'l:': keys.runLogs('run-1'),
    'L:': keys.runLeaf('job_a|failed|manual'),
    D: keys.runLeafDir,
    'U:': keys.runUserLeaf(user, 'job_a|failed|manual'),
    'UD:': keys.runUserDir(user),
    UR: keys.runUserRegistry,
    K: keys.runStuck,
    'Q:': keys.runTerm('order-1'),
  };
  // Every concatenation that starts at `base`: `base .. 'r:' .. runId`, `base .. 'U:' .. #user .. ':' .. …`
  const exprs = [...lua.matchAll(/base(?:\s*\.\.\s*(?:'[^']*'|#?\w+(?:\[\w+\])?))+/g)].map((m) => m[0]);

  it('reads its base from ARGV[1]', () => {
    expect(lua).toMatch(/local base = ARGV\[1\]/);
  });

  it('uses exactly the key kinds RedisKeys names (a new one here needs its RedisKeys method)', () => {
    const kinds = new Set(exprs.map((e) => /^base\s*\.\.\s*'([^']*)'/.exec(e)?.[1]));
    expect([...kinds].sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.keys(expected))("every key of kind '%s' equals RedisKeys' name", (kind) => {
    const ofKind = exprs.filter((e) => /^base\s*\.\.\s*'([^']*)'/.exec(e)?.[1] === kind);
    expect(ofKind.length).toBeGreaterThan(0);
    for (const e of ofKind) {
      const built = e
        .split('..')
        .map((t) => t.trim())
        .map((t) => {
          if (t.startsWith("'")) return t.slice(1, -1);
          if (!(t in values)) throw new Error(`unknown Lua variable ${t} in ${e}`);
          return values[t];
        })
        .join('');
      expect(built).toBe(expected[kind]);
    }
  });

  it("counts the user id's length in bytes on both sides (Hebrew and emoji ids)", () => {
    expect(keys.runUserLeaf(user, 'l')).toBe(`{jm}:runs:U:${Buffer.byteLength(user)}:${user}|l`);
    expect(Buffer.byteLength(user)).not.toBe(user.length);
  });
});
