import { HttpError } from 'grammy';
import { redactUrl } from '../../src/logger';
import { memoryLogger } from '../helpers/logger';

const BOT_TOKEN = '123456789:AAH-secret_bot_token-xyz';

describe('errors logged as { err } keep their stack and lose their secrets', () => {
  it('a wrapped fetch error quoting the Bot API URL (grammY HttpError) logs no bot token', () => {
    const { logger, lines, raw } = memoryLogger();
    const inner = new Error(
      `request to https://api.telegram.org/bot${BOT_TOKEN}/getMe failed, reason: ECONNREFUSED`,
    );
    logger.error({ err: new HttpError("Network request for 'getMe' failed!", inner) }, 'bot_polling_failed');
    expect(raw.join('')).not.toContain(BOT_TOKEN.split(':')[1]);
    const err = lines[0].err as { type: string; message: string; stack: string; error: { message: string } };
    expect(err.type).toBe('HttpError');
    expect(err.stack).toContain('logger-redact.test.ts');
    expect(err.error.message).toContain('https://api.telegram.org/bot***/getMe');
  });

  it('cleans URLs in the message and the cause, blanks secret-named fields', () => {
    const { logger, raw, lines } = memoryLogger();
    const err = Object.assign(
      new Error('POST https://u:pw-111@hooks.test/x?token=tok-222 failed', {
        cause: new Error('see https://h.test/?sig=sig-333'),
      }),
      { headers: { authorization: 'Bearer auth-444', accept: 'json' }, attempt: 2 },
    );
    logger.warn({ err }, 'alert_delivery_retry');
    for (const secret of ['pw-111', 'tok-222', 'sig-333', 'auth-444'])
      expect(raw.join('')).not.toContain(secret);
    expect(lines[0].err).toMatchObject({
      attempt: 2,
      headers: { accept: 'json', authorization: '[redacted]' },
    });
    expect((lines[0].err as { message: string }).message).toContain('https://***@hooks.test/x?token=***');
  });

  it('redactUrl hides a bot token in a URL path', () => {
    expect(redactUrl(`https://api.telegram.org/bot${BOT_TOKEN}/sendMessage?chat_id=1`)).toBe(
      'https://api.telegram.org/bot***/sendMessage?chat_id=1',
    );
    expect(redactUrl('https://h.test/bots/list')).toBe('https://h.test/bots/list');
  });
});
