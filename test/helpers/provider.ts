import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake provider answers one path. */
export type ProviderBehaviour =
  | { kind: 'file'; body: Buffer; contentType?: string; delayMs?: number }
  /** Holds every request until {@link FakeProvider.release} is called for the path, then serves the body. */
  | { kind: 'gated'; body: Buffer }
  | { kind: 'status'; status: number }
  /** Answers `failures` times with `status`, then serves the body. */
  | { kind: 'flaky'; status: number; failures: number; body: Buffer }
  /** Sends `sentBytes` of the body, then holds the connection open (never finishes). */
  | { kind: 'hang'; body: Buffer; sentBytes: number }
  /** Streams `totalBytes` chunked (no Content-Length) in `chunkBytes` writes, as fast as the socket takes. */
  | { kind: 'chunked'; totalBytes: number; chunkBytes: number }
  /** Sends one byte every `intervalMs`, chunked, for `totalBytes` (a slow drip). */
  | { kind: 'drip'; intervalMs: number; totalBytes: number }
  /** Answers `status` (default 302) with a Location header. */
  | { kind: 'redirect'; location: string; status?: number };

/** A local HTTP server standing in for the recording provider; counts requests per path. */
export interface FakeProvider {
  url(path: string): string;
  set(path: string, behaviour: ProviderBehaviour): void;
  hits(path: string): number;
  /** Lets the requests a 'gated' path holds (and every later one) get the file. */
  release(path: string): void;
  /** Resolves once a 'gated' path holds a request. */
  held(path: string): Promise<void>;
  /** Resolves once a 'hang' path has written its partial bytes. */
  partialSent(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Random audio-ish bytes. */
export const audioBytes = (n: number) => Buffer.concat([Buffer.from('RIFF'), randomBytes(n - 4)]);

/** Starts a fake provider on `host` (any loopback address; default 127.0.0.1). */
export async function startProvider(host = '127.0.0.1'): Promise<FakeProvider> {
  const routes = new Map<string, ProviderBehaviour>();
  const counts = new Map<string, number>();
  const partial = new Map<string, () => void>();
  const partialDone = new Map<string, Promise<void>>();
  const gates = new Map<
    string,
    { open: Promise<void>; release: () => void; held: Promise<void>; hold: () => void }
  >();
  const gate = (path: string) => {
    let g = gates.get(path);
    if (!g) {
      let release = () => {};
      let hold = () => {};
      const open = new Promise<void>((r) => (release = r));
      const held = new Promise<void>((r) => (hold = r));
      g = { open, release, held, hold };
      gates.set(path, g);
    }
    return g;
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const b = routes.get(path);
    if (!b) {
      res.writeHead(404).end('no such recording');
      return;
    }
    const sendFile = (body: Buffer, type = 'audio/wav') => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length });
      res.end(body);
    };
    switch (b.kind) {
      case 'file':
        if (b.delayMs) setTimeout(() => sendFile(b.body, b.contentType), b.delayMs);
        else sendFile(b.body, b.contentType);
        return;
      case 'gated': {
        const g = gate(path);
        g.hold();
        void g.open.then(() => {
          if (!res.destroyed) sendFile(b.body);
        });
        return;
      }
      case 'status':
        res.writeHead(b.status).end(`status ${b.status}`);
        return;
      case 'flaky':
        if (n <= b.failures) res.writeHead(b.status).end('try later');
        else sendFile(b.body);
        return;
      case 'chunked': {
        res.writeHead(200, { 'content-type': 'audio/wav' });
        let sent = 0;
        const pump = () => {
          while (sent < b.totalBytes && !res.destroyed) {
            const n = Math.min(b.chunkBytes, b.totalBytes - sent);
            sent += n;
            if (!res.write(Buffer.alloc(n, 7))) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        res.on('error', () => undefined); // the client hanging up mid-stream is the point of this test
        pump();
        return;
      }
      case 'drip': {
        res.writeHead(200, { 'content-type': 'audio/wav' });
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || sent >= b.totalBytes) {
            clearInterval(timer);
            if (!res.destroyed) res.end();
            return;
          }
          sent++;
          res.write(Buffer.from([sent & 0xff]));
        }, b.intervalMs);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'redirect':
        res.writeHead(b.status ?? 302, { location: b.location }).end();
        return;
      case 'hang':
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': b.body.length });
        res.write(b.body.subarray(0, b.sentBytes), () => partial.get(path)?.());
        return;
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://${host}:${port}${path}`,
    set(path, behaviour) {
      routes.set(path, behaviour);
      if (behaviour.kind === 'hang') {
        partialDone.set(path, new Promise<void>((r) => partial.set(path, r)));
      }
    },
    hits: (path) => counts.get(path) ?? 0,
    release: (path) => gate(path).release(),
    held: (path) => gate(path).held,
    partialSent: (path) => partialDone.get(path) ?? Promise.reject(new Error(`${path} is not a hang path`)),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
