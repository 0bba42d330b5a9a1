import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventFields, MonitorEvent } from '../monitor/events';
import { RedisKeys } from '../queues/redis-keys';

export interface EventConsumerOptions {
  /** A connection this consumer owns (it blocks on XREADGROUP); closed by stop(). */
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Consumer group; every process in the group shares the work, each event goes to one of them. */
  group?: string;
  /** Messages a dead consumer left unacknowledged are claimed after this idle time. */
  claimIdleMs?: number;
  blockMs?: number;
  /**
   * Consumers of the group idle this long with nothing pending are deleted (each process start adds one;
   * a dead process's pending events are claimed first). @defaultValue 1 day
   */
  pruneIdleMs?: number;
}

type StreamEntry = [id: string, fields: string[]];

/**
 * Reads the event stream in a consumer group, so each event reaches one handler in the whole system.
 * An event is acknowledged after its handler resolves; one whose handler threw (or whose process died)
 * stays pending and is claimed again after `claimIdleMs`.
 */
export class RedisEventConsumer {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly stream: string;
  private readonly group: string;
  readonly consumer = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private lastClaim = 0;
  private lastPrune = 0;

  constructor(private readonly opts: EventConsumerOptions) {
    this.stream = new RedisKeys(opts.prefix).eventsStream;
    this.group = opts.group ?? 'alerts';
  }

  /** Creates the group (from the start of the stream) and starts delivering to `handler`. */
  async start(handler: (ev: MonitorEvent) => Promise<void>): Promise<void> {
    try {
      await this.opts.redis.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    await this.prune();
    this.loop = this.run(handler);
  }

  /**
   * Deletes the group's consumers that are idle for `pruneIdleMs` with no pending events: those of processes
   * that ended. Runs at start and once an hour; a failure is only logged.
   */
  async prune(): Promise<string[]> {
    const maxIdle = this.opts.pruneIdleMs ?? 86_400_000;
    this.lastPrune = Date.now();
    try {
      const rows = (await this.opts.redis.xinfo('CONSUMERS', this.stream, this.group)) as unknown[][];
      const gone: string[] = [];
      for (const row of rows) {
        const info: Record<string, unknown> = {};
        for (let i = 0; i + 1 < row.length; i += 2) info[String(row[i])] = row[i + 1];
        const name = String(info.name);
        if (name === this.consumer || Number(info.pending) !== 0 || Number(info.idle) < maxIdle) continue;
        await this.opts.redis.xgroup('DELCONSUMER', this.stream, this.group, name);
        gone.push(name);
      }
      if (gone.length) this.opts.logger.info({ consumers: gone.length }, 'event_consumers_pruned');
      return gone;
    } catch (err) {
      this.opts.logger.warn({ err }, 'event_consumers_prune_failed');
      return [];
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.redis.disconnect();
    // run() catches and logs its errors (events_read_failed) and returns once stopped: it does not reject.
    await this.loop?.catch(() => undefined);
  }

  private async run(handler: (ev: MonitorEvent) => Promise<void>): Promise<void> {
    const claimIdle = this.opts.claimIdleMs ?? 60_000;
    while (!this.stopped) {
      try {
        if (Date.now() - this.lastClaim > claimIdle / 2) {
          this.lastClaim = Date.now();
          const claimed = (await this.opts.redis.xautoclaim(
            this.stream,
            this.group,
            this.consumer,
            claimIdle,
            '0',
            'COUNT',
            100,
          )) as [string, StreamEntry[]];
          await this.handle(claimed[1] ?? [], handler);
        }
        if (Date.now() - this.lastPrune > 3_600_000) await this.prune();
        const res = (await this.opts.redis.xreadgroup(
          'GROUP',
          this.group,
          this.consumer,
          'COUNT',
          100,
          'BLOCK',
          this.opts.blockMs ?? 1000,
          'STREAMS',
          this.stream,
          '>',
        )) as [string, StreamEntry[]][] | null;
        if (res) await this.handle(res[0][1], handler);
      } catch (err) {
        if (this.stopped) return;
        this.opts.logger.warn({ err }, 'events_read_failed');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async handle(entries: StreamEntry[], handler: (ev: MonitorEvent) => Promise<void>) {
    for (const [id, raw] of entries) {
      if (!raw) {
        // Trimmed from the stream while pending: nothing left to handle.
        await this.opts.redis.xack(this.stream, this.group, id);
        continue;
      }
      const ev = parseEntry(id, raw);
      try {
        if (ev) await handler(ev);
        await this.opts.redis.xack(this.stream, this.group, id);
      } catch (err) {
        this.opts.logger.warn({ err, event_id: id }, 'event_handler_failed');
      }
    }
  }
}

function parseEntry(id: string, raw: string[]): MonitorEvent | null {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) map[raw[i]] = raw[i + 1];
  if (!map.name) return null;
  let fields: EventFields = {};
  try {
    fields = JSON.parse(map.fields ?? '{}') as EventFields;
  } catch {
    fields = {};
  }
  return { id, name: map.name, fields, time: Number(map.time) || Number(id.split('-')[0]) };
}
