import type { Logger } from 'pino';
import type { AlertsConfig } from '../alerts-config';
import type { AlertChannel } from './channel';
import { CHANNEL_KINDS, type ChannelConfig } from './index';
import type { ChannelContext } from './kind';

export { LogChannel } from './log-channel';

/** A kind seen from outside: its settings are whatever `ch.type` selected it for. */
interface AnyKind {
  missing(s: ChannelConfig): string[];
  build(name: string, s: ChannelConfig, ctx: ChannelContext): AlertChannel;
}

/** The kind (from {@link CHANNEL_KINDS}) of a channel's settings. */
const kindOf = (ch: ChannelConfig) => CHANNEL_KINDS[ch.type] as unknown as AnyKind;

/** The settings a channel lacks (empty after ${VAR} substitution). */
export function missingSettings(ch: ChannelConfig): string[] {
  return kindOf(ch).missing(ch);
}

/**
 * Builds the enabled channels of an alerts file with each kind's builder (see CHANNEL_KINDS). A channel
 * whose settings are missing is left out with one `alert_channel_disabled` warning naming the missing
 * settings (never their values). A telegram channel without `api_root` uses TELEGRAM_API_ROOT.
 */
export function buildChannels(
  config: AlertsConfig,
  logger: Logger,
  defaults: { telegramApiRoot: string },
): Map<string, AlertChannel> {
  const out = new Map<string, AlertChannel>();
  const ctx: ChannelContext = {
    logger,
    timeoutMs: config.delivery.timeout_ms,
    telegramApiRoot: defaults.telegramApiRoot,
  };
  for (const [name, ch] of Object.entries(config.channels)) {
    const missing = missingSettings(ch);
    if (missing.length) {
      logger.warn({ channel: name, type: ch.type, missing }, 'alert_channel_disabled');
      continue;
    }
    out.set(name, kindOf(ch).build(name, ch, ctx));
  }
  return out;
}
