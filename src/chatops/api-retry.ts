import { HttpError, type Transformer } from 'grammy';

export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** A 429 asking to wait longer than this is not retried (default 60 s). */
  maxRetryAfterSeconds?: number;
  /** Backoff before retrying a network error or a 5xx, per retry (default 500 ms, doubling). */
  baseDelayMs?: number;
  /** Called before each retry (for logging). */
  onRetry?: (info: { method: string; attempt: number; delayMs: number; reason: string }) => void;
}

/** Just what the sleep needs of grammY's signal type (node's or the abort-controller shim's). */
interface Abortable {
  addEventListener(type: 'abort', listener: () => void): void;
}

const sleep = (ms: number, signal?: Abortable) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * A grammY API transformer that retries Bot API calls refused with 429 (after the `retry_after` Telegram
 * asks for), 5xx answers and network errors, a few times. `getUpdates` is left to grammY's own polling
 * loop, which already retries it. What still fails reaches the caller (and the bot's error handler).
 */
export function retryTransformer(opts: RetryOptions = {}): Transformer {
  const retries = opts.retries ?? 3;
  const maxRetryAfter = opts.maxRetryAfterSeconds ?? 60;
  const base = opts.baseDelayMs ?? 500;
  return async (prev, method, payload, signal) => {
    if (method === 'getUpdates') return prev(method, payload, signal);
    for (let attempt = 1; ; attempt++) {
      let delayMs: number;
      let reason: string;
      try {
        const res = await prev(method, payload, signal);
        if (res.ok || attempt > retries || signal?.aborted) return res;
        const retryAfter = res.error_code === 429 ? res.parameters?.retry_after : undefined;
        if (retryAfter !== undefined && retryAfter <= maxRetryAfter) {
          delayMs = retryAfter * 1000;
        } else if (res.error_code >= 500 || (res.error_code === 429 && retryAfter === undefined)) {
          delayMs = base * 2 ** (attempt - 1);
        } else {
          return res;
        }
        reason = `${res.error_code}`;
      } catch (err) {
        if (!(err instanceof HttpError) || attempt > retries || signal?.aborted) throw err;
        delayMs = base * 2 ** (attempt - 1);
        reason = 'network';
      }
      opts.onRetry?.({ method, attempt, delayMs, reason });
      await sleep(delayMs, signal);
    }
  };
}
