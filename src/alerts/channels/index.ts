import type { z } from 'zod';
import { slackChannel, webhookChannel } from './http-channels';
import { logChannel } from './log-channel';
import { telegramChannel } from './telegram-channel';

/**
 * Every alert channel kind, by its alerts.yml `type`. The alerts.yml channel schema, the list of types and
 * the channel builder are all derived from this map: a new channel is one file (exporting a
 * `defineChannel({ type, schema, missing, build })`) plus one entry here.
 */
export const CHANNEL_KINDS = {
  telegram: telegramChannel,
  slack: slackChannel,
  webhook: webhookChannel,
  log: logChannel,
} as const;

export type ChannelType = keyof typeof CHANNEL_KINDS;

/** The validated settings of one channel: the union of every kind's schema output. */
export type ChannelConfig = {
  [K in ChannelType]: z.output<(typeof CHANNEL_KINDS)[K]['schema']>;
}[ChannelType];
