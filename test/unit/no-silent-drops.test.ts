/**
 * Errors that used to vanish: a recording's read stream failing mid-response, a live-stream bus that fails to
 * close, a job's next planned run that can't be read. Each is now logged (`{ err }`).
 */
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { JobStatsService } from '../../src/monitor/job-stats';
import { JobRegistry } from '../../src/monitor/registry';
import { type RunEventBus, RunEventHub } from '../../src/monitor/run-events';
import { serveRecording } from '../../src/recordings/serve-file';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { memoryLogger } from '../helpers/logger';

it('serveRecording hands a read error to onReadError and cuts the response', async () => {
  const errors: unknown[] = [];
  const app = express();
  app.get('/f', (req, res) => {
    const file = {
      path: '/nonexistent/jm-test.audio',
      size: 10,
      contentType: 'audio/mpeg',
      etag: '"x"',
      mtimeMs: Date.now(),
    };
    serveRecording(req, res, file as never, 'CAgone', (err) => errors.push(err));
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/f' }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve('complete'));
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      });
      req.on('error', () => resolve('cut'));
      req.end();
    });
    expect(outcome).toBe('cut');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOENT' });
  } finally {
    server.close();
  }
});

it('RunEventHub logs a bus subscription that fails to close', async () => {
  const logs = memoryLogger();
  const bus: RunEventBus = {
    publish: async () => undefined,
    subscribe: async () => ({
      close: async () => {
        throw new Error('close failed');
      },
    }),
  };
  const hub = new RunEventHub(bus, logs.logger);
  await hub.listen(() => undefined);
  await hub.close();
  const line = logs.lines.find((l) => l.msg === 'run_events_unsubscribe_failed');
  expect(line).toMatchObject({ err: { message: 'close failed' } });
});

it('RunEventHub logs a failed subscription and still rejects the listener with it', async () => {
  const logs = memoryLogger();
  const bus: RunEventBus = {
    publish: async () => undefined,
    subscribe: async () => {
      throw new Error('no redis');
    },
  };
  const hub = new RunEventHub(bus, logs.logger);
  await expect(hub.listen(() => undefined)).rejects.toThrow('no redis');
  await expect(hub.listen(() => undefined)).rejects.toThrow('no redis');
  // Once per episode.
  expect(logs.events().filter((m) => m === 'run_events_subscribe_failed')).toHaveLength(1);
  expect(hub.size()).toBe(0);
});

it('JobStatsService logs a next run it cannot read and answers without one', async () => {
  const logs = memoryLogger();
  const registry = JobRegistry.fromYaml(`
jobs:
  - { job_id: tick, name: Tick, category: c, job_type: repeating, interval_seconds: 60, callback_name: p }
`);
  const schedules = {
    nextRunAt: async () => {
      throw new Error('redis down');
    },
  };
  const stats = new JobStatsService(registry, new MemoryRunStore(), schedules, Date.now, logs.logger);
  const out = await stats.stats('tick', 3_600_000);
  expect(out.next_run_at).toBeNull();
  expect(logs.lines.find((l) => l.msg === 'job_next_run_read_failed')).toMatchObject({
    err: { message: 'redis down' },
  });
});
