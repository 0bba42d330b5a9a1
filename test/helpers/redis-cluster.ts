import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { DURABLE_REDIS_ARGS, freePort, REDIS_CLI, REDIS_SERVER, waitPing } from './redis-server';

const run = promisify(execFile);

/** One redis-server process of a test's own (cluster node, replica, sentinel), on a free loopback port. */
export class RedisProcess {
  proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'jm-rp-'));

  constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly conf?: string,
  ) {}

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = [...this.args];
    if (this.conf !== undefined) {
      // Sentinel rewrites its config file, so it needs one of its own.
      const file = join(this.dir, 'node.conf');
      writeFileSync(file, this.conf);
      args.unshift(file);
    }
    const proc = spawn(REDIS_SERVER, args, { cwd: this.dir, stdio: 'ignore' });
    this.proc = proc;
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    await waitPing(this.port);
  }

  /** SIGKILL: a crash, as a dead machine would look. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = null;
  }

  /** SIGSTOP: the process stays, its connections stay open, nothing is answered until {@link resume}. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** SIGCONT: thaws a process frozen by {@link pause}. */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A plain connection to this one process. */
  client(): Redis {
    const r = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null });
    r.on('error', () => undefined);
    return r;
  }

  async info(section: string): Promise<Record<string, string>> {
    const r = this.client();
    try {
      const text = await r.info(section);
      return Object.fromEntries(
        text
          .split('\r\n')
          .filter((l) => l.includes(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
      );
    } finally {
      r.disconnect();
    }
  }
}

/** A flat RESP2 `[field, value, …]` reply as an object. */
function pairs(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** Polls until `fn` is truthy; throws with `what` after the timeout. */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A real Redis Cluster of the test's own: `masters` cluster-enabled servers (plus `replicasPerMaster`
 * replicas each) on free loopback ports, joined with `redis-cli --cluster create`. A short node timeout
 * makes failover (a replica promoted after its master dies) take about two seconds.
 */
export class OwnRedisCluster {
  private constructor(readonly nodes: RedisProcess[]) {}

  static async create(masters = 3, replicasPerMaster = 1): Promise<OwnRedisCluster> {
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const port = await freePort();
      nodes.push(
        new RedisProcess(port, [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
          ...DURABLE_REDIS_ARGS,
        ]),
      );
    }
    const cluster = new OwnRedisCluster(nodes);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await run(REDIS_CLI, [
        '--cluster',
        'create',
        ...nodes.map((n) => n.addr),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ]);
      await cluster.waitHealthy(masters);
      if (replicasPerMaster > 0) await cluster.waitReplicated();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.nodes.map((n) => n.addr).join(',');
  }

  /** The running nodes that are masters now. */
  async masters(): Promise<RedisProcess[]> {
    const out: RedisProcess[] = [];
    for (const n of this.nodes.filter((x) => x.proc)) {
      if ((await n.info('replication')).role === 'master') out.push(n);
    }
    return out;
  }

  /**
   * The master serving `key`'s slot now: CLUSTER KEYSLOT of the key, then the shard whose slot ranges hold
   * it in CLUSTER SHARDS (asked of any running node).
   */
  async masterOf(key: string): Promise<RedisProcess> {
    const node = this.nodes.find((n) => n.proc)!;
    const r = node.client();
    try {
      const slot = Number(await r.cluster('KEYSLOT', key));
      const shards = (await r.call('CLUSTER', 'SHARDS')) as unknown[][];
      for (const shard of shards) {
        const f = pairs(shard);
        const ranges = (f.slots as (string | number)[]).map(Number);
        let holds = false;
        for (let i = 0; i < ranges.length; i += 2) holds ||= slot >= ranges[i] && slot <= ranges[i + 1];
        if (!holds) continue;
        const master = (f.nodes as unknown[][])
          .map(pairs)
          .find((n) => n.role === 'master' && n.health === 'online');
        const found = this.nodes.find((n) => n.port === Number(master?.port));
        if (found) return found;
      }
      throw new Error(`no online master serves slot ${slot}`);
    } finally {
      r.disconnect();
    }
  }

  /** The running replica of a master (from the master's INFO replication). */
  async replicaOf(master: RedisProcess): Promise<RedisProcess> {
    const info = await master.info('replication');
    const port = Number(/port=(\d+)/.exec(info.slave0 ?? '')?.[1]);
    const replica = this.nodes.find((n) => n.port === port && n.proc);
    if (!replica) throw new Error(`${master.addr} has no running replica`);
    return replica;
  }

  /** Waits until every running node says cluster_state:ok and `masters` masters serve the slots. */
  async waitHealthy(masters: number, timeoutMs = 30_000): Promise<void> {
    await until(
      `a healthy cluster with ${masters} masters`,
      async () => {
        for (const n of this.nodes.filter((x) => x.proc)) {
          const r = n.client();
          try {
            const info = await r.cluster('INFO');
            if (!String(info).includes('cluster_state:ok')) return false;
          } finally {
            r.disconnect();
          }
        }
        return (await this.masters()).length === masters;
      },
      timeoutMs,
    );
  }

  /**
   * Waits until every master's replicas are linked (`state=online`: a replica still waiting for its first
   * sync can't be promoted) and have acknowledged all their master has written (nothing in flight).
   */
  async waitReplicated(timeoutMs = 30_000): Promise<void> {
    for (const m of await this.masters()) {
      await until(
        `replicas of ${m.addr} online and in sync`,
        async () => {
          const info = await m.info('replication');
          const offset = Number(info.master_repl_offset);
          const slaves = Object.entries(info).filter(([k]) => /^slave\d+$/.test(k));
          return (
            slaves.length > 0 &&
            slaves.every(
              ([, v]) => v.includes('state=online') && Number(/offset=(\d+)/.exec(v)?.[1] ?? -1) >= offset,
            )
          );
        },
        timeoutMs,
      );
    }
  }

  /** Every key of a pattern across the masters (SCAN on each). */
  async keys(pattern: string): Promise<string[]> {
    const out: string[] = [];
    for (const m of await this.masters()) {
      const r = m.client();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          out.push(...keys);
        } while (cursor !== '0');
      } finally {
        r.disconnect();
      }
    }
    return out;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/**
 * A master, `replicaCount` replicas and three sentinels watching it (quorum 2), all on free loopback ports.
 * Failover (a sentinel promotes the most up-to-date replica, the others follow it) starts a second or so
 * after the master stops answering.
 */
export class OwnSentinelSet {
  private constructor(
    readonly master: RedisProcess,
    readonly replicas: RedisProcess[],
    readonly sentinels: RedisProcess[],
    readonly name: string,
  ) {}

  /** The first replica. */
  get replica(): RedisProcess {
    return this.replicas[0];
  }

  static async create(name = 'jmtest', replicaCount = 1): Promise<OwnSentinelSet> {
    const mp = await freePort();
    const base = (port: number) => ['--bind', '127.0.0.1', '--port', String(port), ...DURABLE_REDIS_ARGS];
    const master = new RedisProcess(mp, base(mp));
    const replicas: RedisProcess[] = [];
    for (let i = 0; i < replicaCount; i++) {
      const rp = await freePort();
      replicas.push(new RedisProcess(rp, [...base(rp), '--replicaof', '127.0.0.1', String(mp)]));
    }
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = [
        'bind 127.0.0.1',
        `port ${port}`,
        `sentinel monitor ${name} 127.0.0.1 ${mp} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n');
      sentinels.push(new RedisProcess(port, ['--sentinel'], conf));
    }
    const set = new OwnSentinelSet(master, replicas, sentinels, name);
    try {
      await master.start();
      await Promise.all(replicas.map((r) => r.start()));
      for (const replica of replicas)
        await until(
          `replica ${replica.addr} to sync`,
          async () => (await replica.info('replication')).master_link_status === 'up',
        );
      await Promise.all(sentinels.map((s) => s.start()));
      await set.waitSentinelsAgree();
    } catch (err) {
      await set.destroy();
      throw err;
    }
    return set;
  }

  /** `host:port,…` for REDIS_SENTINELS. */
  get seeds(): string {
    return this.sentinels.map((s) => s.addr).join(',');
  }

  /** The master address the sentinels announce now. */
  async currentMaster(): Promise<string> {
    const r = this.sentinels[0].client();
    try {
      const [host, port] = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as string[];
      return `${host}:${port}`;
    } finally {
      r.disconnect();
    }
  }

  /**
   * Waits until every sentinel sees the two others and every running replica, none of them flagged down
   * (after a replica was frozen, before a failover that needs it).
   */
  async waitSentinelsAgree(timeoutMs = 30_000): Promise<void> {
    const running = this.replicas.filter((r) => r.proc).length;
    await until(
      'sentinels to see each other and every replica up',
      async () => {
        for (const s of this.sentinels) {
          const r = s.client();
          try {
            const f = pairs((await r.call('SENTINEL', 'MASTER', this.name)) as unknown[]);
            if (Number(f['num-other-sentinels']) < 2) return false;
            const replicas = ((await r.call('SENTINEL', 'REPLICAS', this.name)) as unknown[][]).map(pairs);
            const up = replicas.filter(
              (x) => !/s_down|disconnected/.test(String(x.flags)) && x['master-link-status'] === 'ok',
            );
            if (up.length < running) return false;
          } finally {
            r.disconnect();
          }
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** Waits until every replica has acknowledged all the master has written. */
  async waitReplicated(): Promise<void> {
    await until('the replicas in sync', async () => {
      const info = await this.master.info('replication');
      const slaves = Object.entries(info).filter(([k]) => /^slave\d+$/.test(k));
      return (
        slaves.length === this.replicas.length &&
        slaves.every(
          ([, v]) =>
            v.includes('state=online') &&
            Number(/offset=(\d+)/.exec(v)?.[1] ?? -1) >= Number(info.master_repl_offset),
        )
      );
    });
  }

  async destroy(): Promise<void> {
    for (const p of [this.master, ...this.replicas, ...this.sentinels]) p.resume();
    await Promise.all([this.master, ...this.replicas, ...this.sentinels].map((p) => p.destroy()));
  }
}
