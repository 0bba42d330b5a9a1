import { HttpError } from 'grammy';
import { retryTransformer } from '../../src/chatops/api-retry';

type Res =
  | { ok: true; result: unknown }
  | { ok: false; error_code: number; description: string; parameters?: object };

/** A fake "network" that answers the scripted responses in order and counts the calls. */
function scripted(...responses: (Res | Error)[]) {
  let calls = 0;
  const prev = async () => {
    const r = responses[Math.min(calls++, responses.length - 1)];
    if (r instanceof Error) throw r;
    return r;
  };
  return { prev: prev as never, count: () => calls };
}

const call = (t: ReturnType<typeof retryTransformer>, prev: never, method = 'sendMessage') =>
  t(prev, method as never, { chat_id: 1, text: 'hi' } as never);

describe('Bot API retry transformer', () => {
  it('waits the retry_after Telegram asks for on 429, then sends', async () => {
    const retries: unknown[] = [];
    const t = retryTransformer({ onRetry: (i) => retries.push(i) });
    const net = scripted(
      {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 1',
        parameters: { retry_after: 1 },
      },
      { ok: true, result: { message_id: 1 } },
    );
    const res = await call(t, net.prev);
    expect(res).toEqual({ ok: true, result: { message_id: 1 } });
    expect(net.count()).toBe(2);
    expect(retries).toEqual([{ method: 'sendMessage', attempt: 1, delayMs: 1000, reason: '429' }]);
  });

  it('retries network errors and 5xx with backoff, then gives up and reports the last error', async () => {
    const t = retryTransformer({ baseDelayMs: 5, retries: 2 });
    const net = scripted(
      new HttpError('Network request for sendMessage failed!', new Error('ECONNRESET')),
      { ok: false, error_code: 502, description: 'Bad Gateway' },
      { ok: true, result: true },
    );
    await expect(call(t, net.prev)).resolves.toEqual({ ok: true, result: true });
    expect(net.count()).toBe(3);

    const down = scripted(
      new HttpError('Network request for sendMessage failed!', new Error('ECONNREFUSED')),
    );
    await expect(call(t, down.prev)).rejects.toBeInstanceOf(HttpError);
    expect(down.count()).toBe(3);
  });

  it('does not retry client errors, long retry_after, or getUpdates (grammY polls those itself)', async () => {
    const t = retryTransformer({ baseDelayMs: 5, maxRetryAfterSeconds: 30 });
    const bad = scripted({ ok: false, error_code: 400, description: "Bad Request: can't parse entities" });
    expect(await call(t, bad.prev)).toMatchObject({ ok: false, error_code: 400 });
    expect(bad.count()).toBe(1);

    const flood = scripted({
      ok: false,
      error_code: 429,
      description: 'flood',
      parameters: { retry_after: 3600 },
    });
    expect(await call(t, flood.prev)).toMatchObject({ ok: false, error_code: 429 });
    expect(flood.count()).toBe(1);

    const poll = scripted(new HttpError('Network request for getUpdates failed!', new Error('x')));
    await expect(call(t, poll.prev, 'getUpdates')).rejects.toBeInstanceOf(HttpError);
    expect(poll.count()).toBe(1);
  });
});
