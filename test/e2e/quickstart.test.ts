import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';

jest.setTimeout(90_000);

/**
 * The README's promise: `npm start` on a fresh machine (Redis only, no token set) starts every role, prints a
 * generated token and the dashboard URL once, and a manual cache_warming run completes with progress and logs.
 */
const root = join(__dirname, '../..');
const prefix = uniquePrefix('quick');
let child: ChildProcess | undefined;
let stdout = '';
let stderr = '';

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  const redis = testRedis();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

it('npm start runs all roles and a triggered cache_warming run completes with 1000 items and logs', async () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'info',
  };
  delete env.DB_HEALTH_TOKEN;
  delete env.MONGO_URL;
  delete env.NODE_ENV;
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env });
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });

  const banner = await waitFor(
    () => /token:\s+(\w+)[\s\S]*dashboard: http:\/\/localhost:(\d+)\/jobs\/monitor/.exec(stdout),
    45_000,
    100,
  );
  if (!banner) throw new Error(`no start banner; stdout:\n${stdout}\nstderr:\n${stderr}`);
  const [, token, port] = banner;
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${token}` };

  // The token is printed once for the person at the terminal and never written into the structured log.
  const logLines = stdout.split('\n').filter((l) => l.startsWith('{'));
  expect(logLines.length).toBeGreaterThan(0);
  expect(logLines.some((l) => l.includes(token))).toBe(false);
  expect(stdout.split(token).length - 1).toBe(2); // the token line and the curl example

  const res = await fetch(`${base}/api/jobs/cache_warming/trigger`, { method: 'POST', headers: auth });
  const body = (await res.json()) as { run_id: string; error?: string };
  // The scheduler may have started the hourly job's first run already; then that run is the one to follow.
  expect([202, 409]).toContain(res.status);
  if (res.status === 409) expect(body.error).toBe('job_already_running');
  const runId = body.run_id;
  expect(runId).toBeTruthy();

  let last: Record<string, unknown> | null = null;
  const finished = (id: string) =>
    waitFor(
      async () => {
        const r = await fetch(`${base}/api/jobs/runs/${id}`, { headers: auth });
        last = ((await r.json()) as { run: Record<string, unknown> }).run;
        return ['completed', 'failed', 'skipped', 'cancelled'].includes(String(last.status)) ? last : null;
      },
      30_000,
      250,
    );
  let run = await finished(runId);
  // The scheduler's first run may also start now, before its start is recorded: the trigger is accepted, and
  // whichever of the two takes the job's lock second ends skipped, naming the other, which is the one to follow.
  const yielded = /already_running:(.+)$/.exec(
    String((run?.result as { reason?: string } | null)?.reason ?? ''),
  );
  if (run?.status === 'skipped' && yielded) run = await finished(yielded[1]);
  if (!run) throw new Error(`run ${runId} did not finish in 30 s; last seen: ${JSON.stringify(last)}`);
  expect(run).toMatchObject({ status: 'completed', progress: 100, processed_items: 1000, total_items: 1000 });
  expect((run!.logs as unknown[]).length).toBeGreaterThanOrEqual(10);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child!.once('exit', r));
  expect(code).toBe(0);
  expect(stdout).toContain('"msg":"shutdown_complete"');
});
