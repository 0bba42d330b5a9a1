/**
 * Secrets never reach the logs: a full run (all roles in a child process at trace level, plus the system
 * in this process logging into memory) with a known API token and a fake TELEGRAM_BOT_TOKEN in the
 * environment; every line of output (stdout, stderr, pino) is searched for both.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, tempYaml } from '../helpers/system';

jest.setTimeout(120_000);

const API_TOKEN = 'known-api-token-5f3a9c1e7b2d4068';
const BOT_TOKEN = '123456789:AAFakeTelegramBotTokenForTests_xyz';
const prefix = uniquePrefix('secrets');
const redis = testRedis();

afterAll(async () => {
  await killAllRoles();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Everything a user might do, including the failure paths that log the most. */
async function exercise(
  target: Parameters<typeof request>[0],
  token: string,
  runFinished: (id: string) => Promise<unknown>,
) {
  const auth = { Authorization: `Bearer ${token}` };
  expect((await request(target).get('/api/jobs').set(auth)).status).toBe(200);
  expect((await request(target).get('/api/jobs').set('Authorization', `Bearer ${token}0`)).status).toBe(403);
  expect((await request(target).get('/api/jobs').set('Authorization', token)).status).toBe(401);
  await request(target).get(`/api/jobs/runs/${token}`).set(auth);
  await request(target).get(`/api/jobs/runs?user_id=${token}&bot=${BOT_TOKEN}`).set(auth);
  await request(target)
    .post('/api/jobs/chatty_job/trigger')
    .set(auth)
    .set('Content-Type', 'application/json')
    .send(`{"token":"${token}",`);
  await request(target)
    .post('/api/jobs/chatty_job/trigger')
    .set(auth)
    .send({ pad: 'x'.repeat(200_000), token });
  const runs = [];
  for (const job of ['chatty_job', 'boom_job', 'slow_job']) {
    const res = await request(target)
      .post(`/api/jobs/${job}/trigger`)
      .set(auth)
      .send({ token, bot_token: BOT_TOKEN });
    expect(res.status).toBe(202);
    runs.push(res.body.run_id as string);
  }
  for (const id of runs) await runFinished(id);
  await request(target).get('/readyz');
}

function expectClean(text: string, where: string) {
  expect(text.length).toBeGreaterThan(1000); // we did capture the logs
  for (const secret of [API_TOKEN, TEST_TOKEN, BOT_TOKEN, BOT_TOKEN.split(':')[1]]) {
    if (text.includes(secret)) {
      const line = text.split('\n').find((l) => l.includes(secret));
      throw new Error(`${where} contains a secret: ${line?.slice(0, 300)}`);
    }
  }
}

it('child processes running every role log neither the API token nor the bot token', async () => {
  const proc = await spawnRole({
    ROLES: 'api,worker,scheduler,monitor',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JOBS_CONFIG: tempYaml(PROCESS_JOBS_YML),
    DB_HEALTH_TOKEN: API_TOKEN,
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    LOG_LEVEL: 'trace',
  });
  const base = `http://127.0.0.1:${proc.port}`;
  await exercise(base, API_TOKEN, (id) =>
    waitFor(async () => {
      const res = await request(base).get(`/api/jobs/runs/${id}`).set('Authorization', `Bearer ${API_TOKEN}`);
      return ['completed', 'failed'].includes(res.body.run?.status);
    }, 30_000),
  );
  expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  const out = proc.output.join('\n');
  expect(out).toContain('auth_wrong_token');
  expect(out).toContain('job_attempt_failed');
  expectClean(out, 'child output');
});

it('the in-process system logs (pino to memory, trace level) contain no token', async () => {
  const sys = await startTestSystem({
    LOG_LEVEL: 'trace',
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    ROLES: 'api,worker,scheduler,monitor',
  });
  try {
    sys.logs.logger.level = 'trace';
    await exercise(sys.server!, TEST_TOKEN, (id) =>
      waitFor(async () => ['completed', 'failed'].includes((await sys.store.get(id))?.status ?? ''), 30_000),
    );
  } finally {
    await sys.cleanup();
  }
  expectClean(sys.logs.raw.join(''), 'pino output');
});

it('a start-up error about the token does not print the token', async () => {
  const short = 'tooShortSecret';
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../../src/main.ts')], {
    cwd: join(__dirname, '../..'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DB_HEALTH_TOKEN: short,
      REDIS_URL,
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const code = await new Promise((r) => child.once('exit', r));
  expect(code).toBe(78);
  expect(out).toContain('DB_HEALTH_TOKEN: must be at least 16 characters');
  expect(out).not.toContain(short);
  expect(out).not.toContain(BOT_TOKEN);
});
