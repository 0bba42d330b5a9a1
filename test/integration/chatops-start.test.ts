/**
 * The bot role's start-up against a Bot API that can't be reached: start() returns after its wait (the rest of
 * the process starts), the outage is logged once while grammY keeps trying, and the bot begins long polling by
 * itself once the Bot API answers.
 * Everything on loopback: first a port that drops every connection, then a fake Bot API on that same port.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createChatOps } from '../../src/chatops/chatops';
import { loadConfig } from '../../src/config';
import { JobsService } from '../../src/monitor/jobs-service';
import { JobRegistry } from '../../src/monitor/registry';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { startFakeBotApi } from '../helpers/fake-bot-api';
import { memoryLogger } from '../helpers/logger';
import { waitFor } from '../helpers/redis';
import { freePort } from '../helpers/redis-server';
import { TEST_JOBS_YML } from '../helpers/system';

jest.setTimeout(60_000);

it('starts while the Bot API is unreachable, logs it once, and begins polling when it is back', async () => {
  const port = await freePort();
  let connections = 0;
  const sockets = new Set<Socket>();
  const dropper: Server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.destroy();
  });
  await new Promise<void>((r) => dropper.listen(port, '127.0.0.1', r));

  const logs = memoryLogger();
  const config = loadConfig({
    TELEGRAM_BOT_TOKEN: '123456:unreachable-api-token',
    TELEGRAM_API_ROOT: `http://127.0.0.1:${port}`,
    TELEGRAM_ADMIN_IDS: '111',
  });
  const enqueuer = {
    enqueue: async (_d: unknown, _e: unknown, o: { runId: string }) => ({
      runId: o.runId,
      deduplicated: false,
    }),
    appendEvent: async () => `${Date.now()}-0`,
  };
  const service = new JobsService(JobRegistry.fromYaml(TEST_JOBS_YML), new MemoryRunStore(), enqueuer, {
    logger: logs.logger,
  });
  const chatops = createChatOps(
    config,
    service,
    logs.logger,
    { retry: { baseDelayMs: 5, retries: 1 } },
    { initWaitMs: 1000 },
  );
  if (!chatops) throw new Error('no bot built');
  let fake: Awaited<ReturnType<typeof startFakeBotApi>> | undefined;
  try {
    await expect(chatops.start()).resolves.toBeUndefined();
    // several attempts, one log line
    await waitFor(() => connections >= 6, 30_000);
    const unreachable = logs.lines.filter((l) => l.msg === 'bot_api_unreachable');
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]).toMatchObject({ level: 40, wait_ms: 1000 });
    expect(logs.events()).not.toContain('bot_started');

    await new Promise((r) => dropper.close(r));
    fake = await startFakeBotApi(port);
    const api = fake;
    await waitFor(() => api.calls.some((c) => c.method === 'getUpdates'), 30_000);
    await waitFor(() => logs.events().includes('bot_started'));
    expect(logs.events()).toContain('bot_api_reachable');
    expect(logs.lines.filter((l) => l.msg === 'bot_api_unreachable')).toHaveLength(1);
  } finally {
    await chatops.stop(Date.now() + 5000);
    for (const s of sockets) s.destroy();
    if (dropper.listening) await new Promise((r) => dropper.close(r));
    await fake?.close();
  }
});
