/**
 * A typed client for `GET /api/recordings/file/{call_sid}` that cannot loop forever: it polls only on
 * 202 (and 503), honours Retry-After, stops at once on 404 and 500, and gives up after `timeoutMs`.
 * No Node-only imports: it runs in browsers too.
 */

/** Why the recording can't be played. */
export type RecordingErrorType = 'not_found' | 'worker_offline' | 'download_failed' | 'timeout';

export type WaitResult =
  | { ready: true; url: string }
  | { ready: false; errorType: RecordingErrorType; message: string };

export interface WaitOptions {
  /** Bearer token (omit in a browser that has the dashboard session). */
  token?: string;
  /** Give up after this long (default 180000 ms = 3 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each status the server answered (logging, metrics, tests). */
  onStatus?: (status: number) => void;
  fetch?: typeof fetch;
}

/** The texts shown per errorType (English; the player page also has Hebrew). */
export const RECORDING_ERROR_MESSAGES: Record<RecordingErrorType, string> = {
  not_found: 'No recording exists for this call',
  worker_offline: 'The recording service is not responding. Try again later or contact support',
  download_failed: 'The recording could not be fetched from the provider',
  timeout: 'The recording is still being prepared (waited {n} s); this can take up to 3 minutes',
};

/** Thrown for answers no retry can fix and that are not about the recording (401/403: bad credentials). */
export class RecordingClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RecordingClientError';
  }
}

/** Seconds → ms from a Retry-After header (seconds or an HTTP date), kept within 1..30 s. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  let s = Number(header);
  if (header === null || header.trim() === '' || !Number.isFinite(s) || s < 0) {
    const at = header ? Date.parse(header) : Number.NaN;
    s = Number.isFinite(at) ? (at - now) / 1000 : 2;
  }
  return Math.min(Math.max(s, 1), 30) * 1000;
}

async function errorCode(res: Response): Promise<string | null> {
  try {
    const body = (await res.json()) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : null;
  } catch {
    return null;
  }
}

const fail = (errorType: RecordingErrorType, waitedMs = 0): WaitResult => ({
  ready: false,
  errorType,
  message: RECORDING_ERROR_MESSAGES[errorType].replace('{n}', String(Math.round(waitedMs / 1000))),
});

/**
 * Waits until a call's recording can be played. Returns `{ready: true, url}` (the file URL to give an
 * audio element) or `{ready: false, errorType, message}`.
 * @throws RecordingClientError on 401/403.
 */
export async function waitForRecording(
  baseUrl: string,
  callSid: string,
  opts: WaitOptions = {},
): Promise<WaitResult> {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const url = `${baseUrl.replace(/\/+$/, '')}/api/recordings/file/${encodeURIComponent(callSid)}`;
  const headers: Record<string, string> = { Range: 'bytes=0-0' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const started = Date.now();
  for (;;) {
    let res: Response;
    try {
      res = await doFetch(url, { headers, signal: opts.signal, credentials: 'same-origin' });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      return fail('worker_offline');
    }
    // A 500 says why in its body: the provider failed for good, or the download queue is stuck.
    const code = res.status === 500 ? await errorCode(res) : null;
    // Only frees the connection: the status (and a 500's code) is already read, so a failed cancel changes nothing.
    await res.body?.cancel().catch(() => undefined);
    opts.onStatus?.(res.status);
    if (code === 'recording_download_failed') return fail('download_failed');
    if (res.status === 200 || res.status === 206) return { ready: true, url };
    if (res.status === 401 || res.status === 403)
      throw new RecordingClientError(res.status, 'not authorized');
    if (res.status === 404 || res.status === 400) return fail('not_found');
    if (res.status !== 202 && res.status !== 503) return fail('worker_offline');
    const wait = retryAfterMs(res.headers.get('retry-after'));
    const waited = Date.now() - started;
    if (waited + wait > timeoutMs) return fail('timeout', waited);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        reject(opts.signal?.reason ?? new Error('aborted'));
      };
      const t = setTimeout(() => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, wait);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
