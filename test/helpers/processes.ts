import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { TEST_JOBS_YML, TEST_TOKEN } from './system';

const ROOT = join(__dirname, '..', '..');
const ENTRY = join(__dirname, 'role-main.ts');

/** TEST_JOBS_YML plus `tally_job` (dynamic, concurrent), whose processor records each execution. */
export const PROCESS_JOBS_YML = `${TEST_JOBS_YML}  - { job_id: tally_job, name: Tally, category: test, callback_name: tally, queue: tq }\n`;

/** A child process running some roles through test/helpers/role-main.ts. */
export interface RoleProcess {
  proc: ChildProcess;
  pid: number;
  /** The name its workers store on runs (`host:pid`). */
  worker: string;
  /** The API port, when it runs the api role. */
  port?: number;
  /** Every stdout and stderr line so far (logs are pino JSON). */
  output: string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `timeoutMs`. */
  stop(
    signal?: NodeJS.Signals,
    timeoutMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const alive = new Set<RoleProcess>();

/**
 * Spawns `node --import tsx test/helpers/role-main.ts` with `env` on top of a test environment
 * (NODE_ENV=test, TEST_TOKEN, PORT=0, LOG_LEVEL=info) and waits for its `role_ready` line.
 * Call {@link killAllRoles} in afterAll so nothing outlives the test file, even on failure.
 */
export async function spawnRole(env: Record<string, string>, readyTimeoutMs = 30_000): Promise<RoleProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      PORT: '0',
      DB_HEALTH_TOKEN: TEST_TOKEN,
      LOG_LEVEL: 'info',
      JOB_BACKOFF_MS: '50',
      SHUTDOWN_GRACE_SECONDS: '20',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let ready: (info: { port?: number; worker: string }) => void;
  const readyP = new Promise<{ port?: number; worker: string }>((r) => (ready = r));
  const onData = (buf: Buffer, carry: { s: string }) => {
    carry.s += buf.toString();
    const lines = carry.s.split('\n');
    carry.s = lines.pop() ?? '';
    for (const line of lines) {
      output.push(line);
      if (line.includes('"role_ready"')) ready(JSON.parse(line));
    }
  };
  const out = { s: '' };
  const err = { s: '' };
  proc.stdout!.on('data', (b: Buffer) => onData(b, out));
  proc.stderr!.on('data', (b: Buffer) => onData(b, err));

  const role: RoleProcess = {
    proc,
    pid: proc.pid!,
    worker: '',
    output,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const res = await exited;
      clearTimeout(t);
      return res;
    },
  };
  alive.add(role);
  void exited.then(() => alive.delete(role));

  let timer: NodeJS.Timeout | undefined;
  const info = await Promise.race([
    readyP,
    exited.then(() => null),
    new Promise<null>((r) => {
      timer = setTimeout(() => r(null), readyTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!info) {
    proc.kill('SIGKILL');
    throw new Error(`role process ${env.ROLES} did not become ready:\n${output.slice(-20).join('\n')}`);
  }
  role.worker = info.worker;
  role.port = info.port;
  return role;
}

/** SIGKILLs every role process this file started that is still running, and waits for them. */
export async function killAllRoles(): Promise<void> {
  await Promise.all([...alive].map((r) => r.stop('SIGKILL', 5000)));
}

/** What {@link runCommand} saw: exit code, both outputs (and `out`, both interleaved), and how long it took. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
  ms: number;
}

/**
 * Runs a command from the project root with only `env` (plus PATH and HOME), as an operator would start it;
 * a command still running after `killAfterMs` is SIGKILLed (a hang shows as a null code and the time).
 */
export function runCommand(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  killAfterMs = 60_000,
): Promise<CommandResult> {
  const started = Date.now();
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const res = { stdout: '', stderr: '', out: '' };
  proc.stdout.on('data', (b: Buffer) => {
    res.stdout += b.toString();
    res.out += b.toString();
  });
  proc.stderr.on('data', (b: Buffer) => {
    res.stderr += b.toString();
    res.out += b.toString();
  });
  const killer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  // The time is the process's own (its exit); the output is complete only once every holder of its pipes has
  // closed them (a helper process it started, such as tsx's esbuild service, may hold them a moment longer).
  let exitedAt = 0;
  proc.once('exit', () => {
    exitedAt = Date.now();
  });
  return new Promise((resolve) =>
    proc.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, ...res, ms: (exitedAt || Date.now()) - started });
    }),
  );
}

/** Runs a TypeScript entry point of the project (`src/…`) in its own Node process through tsx. */
export const runTsScript = (script: string, env: Record<string, string>, killAfterMs?: number) =>
  runCommand(process.execPath, ['--import', 'tsx', script], env, killAfterMs);
