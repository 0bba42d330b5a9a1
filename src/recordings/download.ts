import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Writable } from 'node:stream';
import { PROVIDER_NOT_FOUND } from './policy';

/** Limits of one download. */
export interface DownloadLimits {
  connectTimeoutMs: number;
  /** Longest silence between two chunks (and before the response headers). */
  readTimeoutMs: number;
  maxBytes: number;
  maxRedirects?: number;
}

/** A failed download; `retryable` = worth another attempt (5xx, timeouts, network errors). */
export class DownloadError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(`${code}: ${message}`);
    this.name = 'DownloadError';
  }
}

export interface DownloadResult {
  contentType: string;
  size: number;
  sha256: string;
}

/** Host and path of a URL, without its query string (which often carries a signature). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Streams `url` into `out` with a connect timeout, a read (idle) timeout and a size limit, following up
 * to 3 redirects. `onBytes(received, total)` reports progress; `total` is null without Content-Length.
 * Rejects with {@link DownloadError}; a provider 404/410 is `provider_not_found` and not retryable.
 */
export async function download(
  url: string,
  out: Writable,
  limits: DownloadLimits,
  onBytes: (received: number, total: number | null) => void,
  signal?: AbortSignal,
): Promise<DownloadResult> {
  let current = url;
  for (let hop = 0; hop <= (limits.maxRedirects ?? 3); hop++) {
    const res = await request(current, limits, signal);
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current).toString();
      if (!/^https?:$/.test(new URL(current).protocol)) {
        throw new DownloadError('provider_bad_redirect', 'redirect to a non-http(s) URL', false);
      }
      continue;
    }
    if (status === 404 || status === 410) {
      res.resume();
      throw new DownloadError(
        PROVIDER_NOT_FOUND,
        `provider answered ${status} for ${safeUrl(current)}`,
        false,
      );
    }
    if (status >= 500 || status === 408 || status === 429) {
      res.resume();
      throw new DownloadError('provider_error', `provider answered ${status}`, true);
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new DownloadError('provider_rejected', `provider answered ${status}`, false);
    }
    const length = Number(res.headers['content-length']);
    const total = Number.isFinite(length) && length >= 0 ? length : null;
    if (total !== null && total > limits.maxBytes) {
      res.destroy();
      throw new DownloadError('recording_too_large', `${total} bytes exceeds ${limits.maxBytes}`, false);
    }
    const hash = createHash('sha256');
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        res.destroy();
        reject(err);
      };
      res.socket?.setTimeout(limits.readTimeoutMs, () =>
        fail(new DownloadError('provider_timeout', `no data for ${limits.readTimeoutMs} ms`, true)),
      );
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limits.maxBytes) {
          fail(new DownloadError('recording_too_large', `more than ${limits.maxBytes} bytes`, false));
          return;
        }
        hash.update(chunk);
        onBytes(received, total);
        if (!out.write(chunk)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
      });
      res.on('aborted', () => fail(new DownloadError('provider_reset', 'connection closed early', true)));
      res.on('error', (err) => fail(new DownloadError('provider_reset', err.message, true)));
      res.on('end', () => {
        if (total !== null && received !== total) {
          reject(new DownloadError('provider_reset', `got ${received} of ${total} bytes`, true));
          return;
        }
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    const type = String(res.headers['content-type'] ?? 'application/octet-stream')
      .split(',')[0]
      .trim();
    return { contentType: type || 'application/octet-stream', size: received, sha256: hash.digest('hex') };
  }
  throw new DownloadError('provider_bad_redirect', 'too many redirects', false);
}

function request(url: string, limits: DownloadLimits, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { signal, agent: false, headers: { accept: 'audio/*, */*' } });
    const connectTimer = setTimeout(() => {
      req.destroy(
        new DownloadError('provider_timeout', `connect took over ${limits.connectTimeoutMs} ms`, true),
      );
    }, limits.connectTimeoutMs);
    req.on('socket', (socket) => {
      const connected = () => {
        clearTimeout(connectTimer);
        socket.setTimeout(limits.readTimeoutMs, () =>
          req.destroy(
            new DownloadError('provider_timeout', `no answer for ${limits.readTimeoutMs} ms`, true),
          ),
        );
      };
      if (socket.connecting) socket.once(url.startsWith('https:') ? 'secureConnect' : 'connect', connected);
      else connected();
    });
    req.on('response', (res) => resolve(res));
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      reject(
        err instanceof DownloadError ? err : new DownloadError('provider_unreachable', err.message, true),
      );
    });
  });
}
