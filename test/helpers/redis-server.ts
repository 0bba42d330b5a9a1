import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** Where the tests that start their own servers (restart, freeze, cluster, sentinel) find Debian's binaries. */
const REDIS_BIN_DIR = process.env.REDIS_BIN_DIR ?? '/usr/bin';
export const REDIS_SERVER = join(REDIS_BIN_DIR, 'redis-server');
export const REDIS_CLI = join(REDIS_BIN_DIR, 'redis-cli');
const REDIS_BINARIES = [REDIS_SERVER, REDIS_CLI];

/** Test files that start their own redis-server: they import this helper or the cluster one. */
export const OWN_REDIS_IMPORT = /helpers\/redis-(server|cluster)'/;

/** The one line `npm test` prints when redis-server or redis-cli is missing, or null when both are there. */
export function missingRedisBinaries(): string | null {
  const missing = REDIS_BINARIES.filter((b) => !existsSync(b));
  if (!missing.length) return null;
  return `${missing.join(' and ')} not found: the tests that restart, freeze, cluster or fail over Redis start their own servers. Install them (Debian/Ubuntu: sudo apt-get install redis-server).`;
}

/** What a test's own redis-server runs with: AOF on every write, no RDB, never evict (what production should use). */
export const DURABLE_REDIS_ARGS: readonly string[] = [
  '--appendonly',
  'yes',
  '--appendfsync',
  'always',
  '--save',
  '',
  '--maxmemory-policy',
  'noeviction',
];

/** A free TCP port on 127.0.0.1 (listen(0), then release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set<OwnRedis>();

/**
 * A redis-server of the test's own (127.0.0.1, free port, temp dir, AOF on), for tests that stop,
 * restart or break Redis. Always call {@link stopAllRedis} (or `destroy()`) in afterAll.
 */
export class OwnRedis {
  private proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'jm-redis-'));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port and waits until it answers PING. */
  static async create(): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort());
    running.add(r);
    await r.start();
    return r;
  }

  /** (Re)starts the server on the same port and data dir; AOF brings the data back. */
  async start(): Promise<void> {
    if (this.proc) return;
    const proc = spawn(
      REDIS_SERVER,
      ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, ...DURABLE_REDIS_ARGS],
      { stdio: 'ignore' },
    );
    this.proc = proc;
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    await waitPing(this.port);
  }

  /** Stops the server (SIGTERM: a clean shutdown that keeps the AOF; SIGKILL: a crash) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGCONT');
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
    this.proc = null;
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered, until {@link resume}. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** Thaws a server frozen by {@link pause} (SIGCONT). */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Stops the server and deletes its data dir. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }
}

/** Destroys every OwnRedis this test file started. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...running].map((r) => r.destroy()));
}

/** Resolves once a redis-server on 127.0.0.1:`port` answers PING. @throws after `timeoutMs`. */
export async function waitPing(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      probe.disconnect();
    }
  }
}
