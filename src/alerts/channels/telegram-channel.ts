import { Api } from 'grammy';
import { retryTransformer } from '../../chatops/api-retry';
import type { Alert } from '../../monitor/alert-rules';
import { z } from 'zod';
import { splitCommaList } from '../../config-file';
import type { AlertChannel, Delivery } from './channel';
import { defineChannel, maybeUrl, str } from './kind';

/** Telegram through grammY's Api: one sendMessage per chat, each retried on its own. */
export class TelegramChannel implements AlertChannel {
  private readonly api: Api;

  constructor(
    readonly name: string,
    opts: { botToken: string; chatIds: string[]; apiRoot: string; timeoutMs: number },
    private readonly chatIds = opts.chatIds,
  ) {
    this.api = new Api(opts.botToken, {
      apiRoot: opts.apiRoot,
      timeoutSeconds: Math.max(1, Math.ceil(opts.timeoutMs / 1000)),
    });
    // The bot's transformer: waits out a 429's retry_after (the engine's own backoff is shorter than
    // Telegram's rate-limit windows) and retries 5xx/network errors.
    this.api.config.use(retryTransformer());
  }

  deliveries(alert: Alert): Delivery[] {
    const text = alert.text;
    return this.chatIds.map((chat) => ({
      target: `${this.name} chat ${chat}`,
      send: async () => {
        await this.api.sendMessage(chat, text, { link_preview_options: { is_disabled: true } });
      },
    }));
  }
}

/** `type: telegram`: `bot_token`, `chat_ids` (comma or YAML list), optional `api_root`. */
export const telegramChannel = defineChannel({
  type: 'telegram',
  schema: z.strictObject({
    type: z.literal('telegram'),
    bot_token: str.trim().default(''),
    /** Comma list or YAML list of chat ids. */
    chat_ids: z
      .union([str, z.array(z.union([str, z.number()]))], { error: 'expected chat ids' })
      .default('')
      .transform((v) => splitCommaList(Array.isArray(v) ? v.map(String).join(',') : v)),
    api_root: maybeUrl,
  }),
  missing: (s) => [...(s.bot_token ? [] : ['bot_token']), ...(s.chat_ids.length ? [] : ['chat_ids'])],
  build: (name, s, ctx) =>
    new TelegramChannel(name, {
      botToken: s.bot_token,
      chatIds: s.chat_ids,
      apiRoot: s.api_root || ctx.telegramApiRoot,
      timeoutMs: ctx.timeoutMs,
    }),
});
