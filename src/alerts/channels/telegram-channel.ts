import { Api } from 'grammy';
import { retryTransformer } from '../../chatops/api-retry';
import type { Alert } from '../../monitor/alert-rules';
import type { AlertChannel, Delivery } from './channel';

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
