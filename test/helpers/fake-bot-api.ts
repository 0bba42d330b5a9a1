import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Update } from 'grammy/types';
import { type ApiCall, fakeResult } from './telegram';

/**
 * A local HTTP server posing as the Telegram Bot API (for TELEGRAM_API_ROOT): answers getMe,
 * deleteWebhook, setWebhook, sendMessage, editMessageText, answerCallbackQuery…, and serves the updates
 * pushed with `pushUpdate` through getUpdates long polls (held until an update arrives or the poll's
 * timeout passes). Records every call. `hang()` makes it stop answering altogether. `port` 0 (default) picks a
 * free one.
 */
export async function startFakeBotApi(port = 0) {
  const calls: ApiCall[] = [];
  const updates: Update[] = [];
  const waiting = new Set<{ offset: number; res: ServerResponse; timer: NodeJS.Timeout }>();
  /** Requests taken while hanging: never answered (until close). */
  const held = new Set<ServerResponse>();
  let hanging = false;
  let messageId = 9000;
  const hold = (res: ServerResponse) => {
    held.add(res);
    res.on('close', () => held.delete(res));
  };

  const answer = (res: ServerResponse, body: unknown) => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const pending = (offset: number) => updates.filter((u) => u.update_id >= offset);
  const flush = () => {
    for (const w of [...waiting]) {
      const ready = pending(w.offset);
      if (ready.length) {
        clearTimeout(w.timer);
        waiting.delete(w);
        answer(w.res, { ok: true, result: ready });
      }
    }
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/bot[^/]+\/(\w+)$/.exec(req.url ?? '');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const payload = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    if (!m) {
      res.writeHead(404).end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
      return;
    }
    const method = m[1];
    calls.push({ method, payload });
    if (hanging) return hold(res);
    if (method === 'getUpdates') {
      const offset = Number(payload.offset ?? 0);
      const ready = pending(offset);
      const timeoutS = Number(payload.timeout ?? 0);
      if (ready.length || timeoutS === 0) return answer(res, { ok: true, result: ready });
      const w = {
        offset,
        res,
        timer: setTimeout(() => {
          waiting.delete(w);
          answer(res, { ok: true, result: [] });
        }, timeoutS * 1000),
      };
      waiting.add(w);
      res.on('close', () => {
        clearTimeout(w.timer);
        waiting.delete(w);
      });
      return;
    }
    answer(res, { ok: true, result: fakeResult(method, payload, messageId++) });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const { port: bound } = server.address() as AddressInfo;

  return {
    /** The value for TELEGRAM_API_ROOT. */
    apiRoot: `http://127.0.0.1:${bound}`,
    calls,
    /** Every update pushed so far. */
    updates,
    /** Queues an update for the next getUpdates. */
    pushUpdate(update: Update) {
      updates.push(update);
      flush();
    },
    /**
     * From now on the Bot API never answers: every request (the long poll in progress included) is taken
     * and held open, as a Telegram that is unreachable behind a black-holing network would.
     */
    hang() {
      hanging = true;
      for (const w of waiting) {
        clearTimeout(w.timer);
        hold(w.res);
      }
      waiting.clear();
    },
    sent(method = 'sendMessage') {
      return calls.filter((c) => c.method === method);
    },
    async close() {
      for (const w of waiting) {
        clearTimeout(w.timer);
        answer(w.res, { ok: true, result: [] });
      }
      waiting.clear();
      for (const res of held) res.destroy();
      held.clear();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
