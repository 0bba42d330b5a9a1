import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Transform, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { AddressNotAllowedError, AddressPolicy, URL_NOT_ALLOWED } from './address-policy';
import { PROVIDER_NOT_FOUND } from './policy';

/** Limits of one download. */
export interface DownloadLimits {
  connectTimeoutMs: number;
  /** Longest silence between two chunks (and before the response headers). */
  readTimeoutMs: number;
  maxBytes: number;
  /** Redirects followed, each hop checked like the first URL. @defaultValue 5 */
  maxRedirects?: number;
  /** The whole download (connect, redirects, body) must end within this. @defaultValue none */
  deadlineMs?: number;
  /** Which addresses may be reached. @defaultValue public unicast addresses only */
  addresses?: AddressPolicy;
  /** Name resolution (tests stub it); its answers are checked by `addresses`. @defaultValue dns.lookup */
  resolve?: LookupFunction;
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
 * Streams `url` into the stream `open()` returns (called once the provider answers 2xx), with a connect
 * timeout, a read (idle) timeout, a whole-download deadline and a size limit, following up to
 * `maxRedirects` redirects. Every hop is checked against `limits.addresses` (scheme, credentials, literal
 * IPs, and every resolved address through the socket's own `lookup`). `onBytes(received, total)` reports
 * progress; `total` is null without Content-Length. The output stream is destroyed and closed on failure.
 * Rejects with {@link DownloadError}; a provider 404/410 is `provider_not_found` and not retryable.
 */
export async function download(
  url: string,
  open: () => Writable,
  limits: DownloadLimits,
  onBytes: (received: number, total: number | null) => void,
  signal?: AbortSignal,
): Promise<DownloadResult> {
  const policy = limits.addresses ?? new AddressPolicy();
  const deadline = new AbortController();
  const timer = limits.deadlineMs ? setTimeout(() => deadline.abort(), limits.deadlineMs) : undefined;
  const all = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  /** Turns any error into the DownloadError the caller sees (a timeout or abort wins over its symptoms). */
  const classify = (err: unknown): DownloadError => {
    if (deadline.signal.aborted) {
      return new DownloadError('download_timeout', `not done within ${limits.deadlineMs} ms`, true);
    }
    if (signal?.aborted) {
      const why = signal.reason instanceof Error ? signal.reason.message : 'aborted';
      return new DownloadError('download_aborted', why, true);
    }
    if (err instanceof DownloadError) return err;
    if (err instanceof AddressNotAllowedError) return new DownloadError(URL_NOT_ALLOWED, err.reason, false);
    return new DownloadError('provider_reset', (err as Error)?.message ?? String(err), true);
  };
  try {
    let current = url;
    for (let hop = 0; hop <= (limits.maxRedirects ?? 5); hop++) {
      const checked = policy.checkUrl(current);
      const res = await request(checked, limits, policy.lookup(limits.resolve), all);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        try {
          current = new URL(res.headers.location, checked).toString();
        } catch {
          throw new DownloadError('provider_bad_redirect', 'redirect to an invalid URL', false);
        }
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
      return await receive(res, open, limits, onBytes, all, classify);
    }
    throw new DownloadError('provider_bad_redirect', 'too many redirects', false);
  } catch (err) {
    throw classify(err);
  } finally {
    clearTimeout(timer);
  }
}

/** Streams a 2xx answer through the size limit and the hash into a fresh output stream. */
async function receive(
  res: http.IncomingMessage,
  open: () => Writable,
  limits: DownloadLimits,
  onBytes: (received: number, total: number | null) => void,
  signal: AbortSignal,
  classify: (err: unknown) => DownloadError,
): Promise<DownloadResult> {
  const length = Number(res.headers['content-length']);
  const total = Number.isFinite(length) && length >= 0 ? length : null;
  if (total !== null && total > limits.maxBytes) {
    res.destroy();
    throw new DownloadError('recording_too_large', `${total} bytes exceeds ${limits.maxBytes}`, false);
  }
  const hash = createHash('sha256');
  let received = 0;
  let failure: DownloadError | null = null;
  res.socket?.setTimeout(limits.readTimeoutMs, () => {
    failure = new DownloadError('provider_timeout', `no data for ${limits.readTimeoutMs} ms`, true);
    res.destroy(failure);
  });
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received > limits.maxBytes) {
        done(new DownloadError('recording_too_large', `more than ${limits.maxBytes} bytes`, false));
        return;
      }
      hash.update(chunk);
      onBytes(received, total);
      done(null, chunk);
    },
  });
  const out = open();
  try {
    // pipeline listens for errors on every stream and destroys them all on the first one.
    await pipeline(res, meter, out, { signal });
  } catch (err) {
    out.destroy();
    await closed(out);
    throw failure ?? classify(err);
  }
  if (total !== null && received !== total) {
    throw new DownloadError('provider_reset', `got ${received} of ${total} bytes`, true);
  }
  const type = String(res.headers['content-type'] ?? 'application/octet-stream')
    .split(',')[0]
    .trim();
  return { contentType: type || 'application/octet-stream', size: received, sha256: hash.digest('hex') };
}

/** Resolves once a destroyed stream has released its resources (a file stream closes its descriptor). */
async function closed(stream: Writable): Promise<void> {
  // Called after a failure its caller throws: the stream's own error on the way down is that one, or its echo.
  await finished(stream).catch(() => undefined);
}

function request(
  url: URL,
  limits: DownloadLimits,
  lookup: LookupFunction,
  signal: AbortSignal,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, {
      signal,
      agent: false,
      lookup,
      headers: { accept: 'audio/*, */*' },
    });
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
      if (socket.connecting) socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
      else connected();
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      reject(
        err instanceof DownloadError || err instanceof AddressNotAllowedError
          ? err
          : new DownloadError('provider_unreachable', err.message, true),
      );
    });
  });
}
