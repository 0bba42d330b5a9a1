import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Dashboard } from './dashboard';
import type { Lifecycle } from './launcher';
import type { RedisClock } from './queues/redis-clock';
import type { RunRecorder } from './workers/run-recorder';
import type { RunStore } from './monitor/run-store';
import type { Tracker } from './monitor/tracker';
import type { QueueSet } from './queues/queue-set';
import { waitReady } from './queues/redis';
import type { WorkerHeartbeat } from './workers/heartbeat';
import type { CancelListener } from './workers/cancel-listener';
import type { WorkerPool } from './workers/worker-pool';

/** Milliseconds left until `deadline` (never negative). */
const left = (deadline: number) => Math.max(0, deadline - Date.now());

/** Resolves when `p` settles or after `ms`, whichever is first (true when `p` won). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The process's connections, started first and stopped last: `requestRedis` (fail-fast, command timeout:
 * API requests, the Redis store, queue producers, scrapes) and `backgroundRedis` (patient, offline queue:
 * workers' locks and events, the tracker's checkpoints, the scheduler, the monitor's lock, cooldowns and
 * event stream), plus the run store and the queues built on them.
 */
export function connectionsPart(c: {
  requestRedis: Redis;
  backgroundRedis: Redis;
  /** The producer connection triggers WAIT on (REDIS_WAIT_REPLICAS > 0), when there is one. */
  producerRedis?: Redis | null;
  store: () => RunStore | undefined;
  /** The queues built on these connections (the producer's too). */
  queues: () => (QueueSet | undefined)[];
  /** Closes what else the connections part owns (BullMQ's Cluster client). */
  close?: () => void;
}): Lifecycle {
  return {
    name: 'connections',
    start: () =>
      Promise.all(
        [c.requestRedis, c.backgroundRedis, ...(c.producerRedis ? [c.producerRedis] : [])].map((r) =>
          waitReady(r),
        ),
      ).then(() => undefined),
    async stop(deadline) {
      try {
        const queues = c.queues();
        const store = c.store();
        await within(
          (async () => {
            await Promise.all(queues.map((q) => q?.close()));
            await store?.close();
          })(),
          left(deadline),
        );
      } finally {
        c.requestRedis.disconnect();
        c.backgroundRedis.disconnect();
        c.producerRedis?.disconnect();
        c.close?.();
      }
    },
  };
}

/** Tracker (monitor role): folds BullMQ's lifecycle events into runs; on stop, stores what it has received. */
export function trackerRole(tracker: Tracker): Lifecycle {
  return {
    name: 'tracker',
    start: () => tracker.start(),
    async stop(deadline) {
      await within(tracker.idle(), Math.min(2000, left(deadline)));
      await tracker.stop();
    },
  };
}

/**
 * Worker role: runs jobs, records them, hears operators' cancel requests and keeps the process's heartbeat
 * (GET /api/jobs/workers); on stop, finishes the active ones until the deadline, then abandons the rest,
 * writes what the recorder still holds, and only then leaves the workers list.
 */
export function workerRole(
  workers: WorkerPool,
  logger: Logger,
  rec?: { recorder: RunRecorder; clock: RedisClock },
  heartbeat?: WorkerHeartbeat,
  cancels?: CancelListener,
): Lifecycle {
  return {
    name: 'worker',
    start: async () => {
      await rec?.clock.sync();
      // Listed (with its recorder entry) before it takes a job: if it dies, the reconciler knows its gap.
      await heartbeat?.start();
      workers.start();
      await cancels?.start(); // #12: operators' cancel requests for runs of this process
    },
    async stop(deadline) {
      await cancels?.stop();
      const finished = await workers.close(left(deadline));
      if (!finished) logger.warn({}, 'workers_abandoned_active_jobs');
      await within(rec?.recorder.stop() ?? Promise.resolve(), Math.max(0, left(deadline)));
      await within(heartbeat?.stop() ?? Promise.resolve(), Math.min(1000, left(deadline)));
    },
  };
}

/**
 * Pending connections the API's listening socket holds (the kernel caps it at net.core.somaxconn). Node's
 * default, 511, is less than a polling storm opens at once (1,000 players starting together): the kernel
 * drops the surplus SYNs and those clients wait for TCP's retransmits (1 s, 3 s, 7 s) before their first
 * answer, which bench:polling-storm saw as a 202 p99 of 5 to 9 s.
 */
export const API_LISTEN_BACKLOG = 4096;

/** API role: the HTTP server (API, dashboard, metrics, recordings, the bot's webhook). */
export class ApiRole implements Lifecycle {
  readonly name = 'api';
  server?: Server;
  port?: number;

  constructor(
    private readonly app: Express,
    private readonly d: { port: number; dashboard: Dashboard; logger: Logger; store: string },
  ) {}

  async start(): Promise<void> {
    const server = this.app.listen({ port: this.d.port, backlog: API_LISTEN_BACKLOG });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.d.port;
    this.d.logger.info({ port: this.port, store: this.d.store }, 'api_listening');
  }

  async stop(deadline: number): Promise<void> {
    const server = this.server;
    // Live streams end first (they never finish by themselves); a hung Redis must not keep the listener open.
    const streams = this.d.dashboard.close();
    if (!server) return void (await streams);
    const closed = new Promise((r) => server.close(() => r(undefined)));
    server.closeIdleConnections();
    if (!(await within(closed, left(deadline)))) server.closeAllConnections();
    await Promise.all([closed, streams]);
  }
}
