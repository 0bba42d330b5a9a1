import type { Logger } from 'pino';
import { z } from 'zod';
import type { AlertChannel } from './channel';

/** What a channel's builder gets besides its own settings. */
export interface ChannelContext {
  logger: Logger;
  /** delivery.timeout_ms of alerts.yml: every HTTP call gives up after it. */
  timeoutMs: number;
  /** TELEGRAM_API_ROOT, for telegram channels without their own `api_root`. */
  telegramApiRoot: string;
}

/**
 * One kind of alert channel, defined in its own file and registered in `CHANNEL_KINDS` (./index.ts): the
 * alerts.yml schema and the channel builder are derived from that list, so a new channel is one file plus
 * one entry.
 */
export interface ChannelKind<T extends string, S extends z.ZodType<{ type: T }>> {
  /** The `type:` of the channel in alerts.yml (also the channel name that implies it, e.g. `slack: {}`). */
  type: T;
  /** Strict zod schema of the channel's settings, `type: z.literal(type)` included. */
  schema: S;
  /** Settings that are empty after ${VAR} substitution: the channel is then disabled with one warning. */
  missing(settings: z.output<S>): string[];
  /** Builds the channel from its (complete) settings. */
  build(name: string, settings: z.output<S>, ctx: ChannelContext): AlertChannel;
}

/** Declares a channel kind (keeps its settings type precise). */
export function defineChannel<T extends string, S extends z.ZodType<{ type: T }>>(
  kind: ChannelKind<T, S>,
): ChannelKind<T, S> {
  return kind;
}

/** A string setting. */
export const str = z.string({ error: 'expected a string' });

/** A URL setting that may be empty (its ${VAR} is unset): the channel is then disabled, not invalid. */
export const maybeUrl = str
  .trim()
  .refine(
    (v) => {
      if (v === '') return true;
      try {
        return ['http:', 'https:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL' },
  )
  .default('');
