import type { Logger } from 'pino';
import type { AlertsConfig, ChannelConfig } from '../alerts-config';
import type { AlertChannel, Delivery } from './channel';
import { SlackChannel, WebhookChannel } from './http-channels';
import { TelegramChannel } from './telegram-channel';

/** Writes the alert to the log (`alert_fired`); always available. */
export class LogChannel implements AlertChannel {
  constructor(
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  deliveries(alert: Parameters<AlertChannel['deliveries']>[0]): Delivery[] {
    return [
      {
        target: this.name,
        send: async () => {
          this.logger.warn(
            { rule: alert.rule, severity: alert.severity, event: alert.event, text: alert.text },
            'alert_fired',
          );
        },
      },
    ];
  }
}

/** The settings a channel lacks (empty after ${VAR} substitution). */
export function missingSettings(ch: ChannelConfig): string[] {
  switch (ch.type) {
    case 'telegram':
      return [...(ch.bot_token ? [] : ['bot_token']), ...(ch.chat_ids.length ? [] : ['chat_ids'])];
    case 'slack':
      return ch.webhook_url ? [] : ['webhook_url'];
    case 'webhook':
      return ch.url ? [] : ['url'];
    default:
      return [];
  }
}

/**
 * Builds the enabled channels of an alerts file. A channel whose settings are missing is left out with
 * one `alert_channel_disabled` warning naming the missing settings (never their values). A telegram
 * channel without `api_root` uses TELEGRAM_API_ROOT.
 */
export function buildChannels(
  config: AlertsConfig,
  logger: Logger,
  defaults: { telegramApiRoot: string },
): Map<string, AlertChannel> {
  const out = new Map<string, AlertChannel>();
  const timeoutMs = config.delivery.timeout_ms;
  for (const [name, ch] of Object.entries(config.channels)) {
    const missing = missingSettings(ch);
    if (missing.length) {
      logger.warn({ channel: name, type: ch.type, missing }, 'alert_channel_disabled');
      continue;
    }
    switch (ch.type) {
      case 'telegram':
        out.set(
          name,
          new TelegramChannel(name, {
            botToken: ch.bot_token,
            chatIds: ch.chat_ids,
            apiRoot: ch.api_root || defaults.telegramApiRoot,
            timeoutMs,
          }),
        );
        break;
      case 'slack':
        out.set(name, new SlackChannel(name, ch.webhook_url, timeoutMs));
        break;
      case 'webhook':
        out.set(name, new WebhookChannel(name, ch.url, timeoutMs, ch.headers));
        break;
      case 'log':
        out.set(name, new LogChannel(name, logger));
        break;
    }
  }
  return out;
}
