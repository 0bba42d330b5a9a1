import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake server received. */
export interface ReceivedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

/** How the fake answers one request: a status (and JSON body), or 'hang' to never answer. */
export type Responder = (req: ReceivedRequest, n: number) => { status: number; body?: unknown } | 'hang';

/**
 * A local HTTP server standing in for Slack's incoming webhook, a generic webhook and the Telegram Bot API
 * (POST /bot<token>/sendMessage answers like Telegram does). Records every request.
 */
export class FakeHttp {
  readonly requests: ReceivedRequest[] = [];
  private server: Server;
  private hanging: ServerResponse[] = [];
  url = '';

  constructor(private responder: Responder = () => ({ status: 200 })) {
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  /** Requests to one path (e.g. `/slack`). */
  to(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        body = { raw: Buffer.concat(chunks).toString('utf8') };
      }
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        body,
        headers: req.headers,
        at: Date.now(),
      };
      this.requests.push(received);
      const n = this.requests.filter((r) => r.path === received.path).length;
      const answer = this.responder(received, n);
      if (answer === 'hang') {
        this.hanging.push(res);
        return;
      }
      let out = answer.body;
      if (out === undefined && /^\/bot[^/]+\/sendMessage$/.test(received.path)) {
        out = {
          ok: true,
          result: {
            message_id: n,
            date: Math.floor(Date.now() / 1000),
            chat: { id: Number(body.chat_id), type: 'group' },
            text: body.text,
          },
        };
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out ?? { ok: answer.status < 300 }));
    });
  }
}
