import { redactUrlsIn } from '../../logger';
import type { Alert } from '../../monitor/alert-rules';

/** One message to one destination; retried on its own (a Telegram channel has one per chat). */
export interface Delivery {
  /** Destination for logs, never a secret (e.g. `chat -100123`, `slack`). */
  target: string;
  send(): Promise<void>;
}

/** An alert channel: turns an alert into deliveries. Implementations throw on failure (the engine retries). */
export interface AlertChannel {
  /** The channel's name in alerts.yml. */
  readonly name: string;
  deliveries(alert: Alert): Delivery[];
}

/** Error for a destination that answered with a non-2xx status. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/**
 * Splits `http://user:pass@host/…` into the URL without userinfo and an `Authorization: Basic` header
 * (fetch refuses URLs with credentials). A URL without userinfo comes back as it is, with no header.
 */
export function basicAuthFromUrl(url: string): { url: string; authorization?: string } {
  const u = new URL(url);
  if (!u.username && !u.password) return { url };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return {
    url: u.toString(),
    authorization: `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`,
  };
}

/**
 * POSTs JSON with a timeout; throws DeliveryError on a non-2xx answer or a timeout. Credentials in the URL
 * are sent as Basic auth (an `authorization` in `headers` wins). The URL is never put in the error, and any
 * URL an underlying error quotes is redacted (webhook URLs carry secrets).
 */
export async function postJson(
  url: string,
  body: unknown,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<void> {
  let res: Response;
  try {
    const target = basicAuthFromUrl(url);
    res = await fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(target.authorization ? { authorization: target.authorization } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    throw new DeliveryError(
      e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : redactUrlsIn(e.message),
    );
  }
  // Drains the body to free the connection; the status below is the delivery's outcome.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new DeliveryError(`HTTP ${res.status}`, res.status);
}
