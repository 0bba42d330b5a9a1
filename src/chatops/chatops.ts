import { createHash } from 'node:crypto';
import { type Bot, webhookCallback } from 'grammy';
import type { Logger } from 'pino';
import type { ApiDeps } from '../api/app';
import type { Config } from '../config';
import type { JobsService } from '../monitor/jobs-service';
import { AdminList } from './access';
import { createJobsBot, type JobsBotOptions } from './jobs-bot';

/** The running ChatOps bot (the `bot` role). */
export interface ChatOps {
  bot: Bot;
  mode: 'polling' | 'webhook';
  /** Mounts for createApp: the webhook route in webhook mode, nothing in polling mode. */
  mounts: NonNullable<ApiDeps['mounts']>;
  /** Starts long polling, or registers the webhook; returns at once (Telegram being down is retried and logged). */
  start(): void;
  /** Stops long polling (within 5 s); the webhook, if any, stays registered for the next start. */
  stop(): Promise<void>;
}

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** The webhook secret: TELEGRAM_WEBHOOK_SECRET, or one derived from the bot token (stable across restarts). */
export function webhookSecret(config: Pick<Config, 'TELEGRAM_WEBHOOK_SECRET'>, token: string): string {
  return (
    config.TELEGRAM_WEBHOOK_SECRET ??
    createHash('sha256').update(`jobs-monitor-webhook:${token}`, 'utf8').digest('base64url')
  );
}

/**
 * Builds the ChatOps bot from the config, or returns undefined (with one `bot_disabled` info line) when
 * TELEGRAM_BOT_TOKEN is unset. Long polling by default; with TELEGRAM_WEBHOOK_URL the updates arrive on
 * the API's Express app at that URL's path, checked against the webhook secret (loadConfig makes sure a
 * process with a webhook URL also runs the api role).
 */
export function createChatOps(
  config: Config,
  service: JobsService,
  logger: Logger,
  extra: Partial<JobsBotOptions> = {},
): ChatOps | undefined {
  const token = config.TELEGRAM_BOT_TOKEN;
  if (!token) {
    logger.info({}, 'bot_disabled');
    return undefined;
  }
  const webhookUrl = config.TELEGRAM_WEBHOOK_URL;
  // TELEGRAM_ADMIN_IDS are operators (run, retry, cancel); TELEGRAM_OWNER_IDS are admins (also pause/resume).
  const admins = new AdminList([...config.TELEGRAM_ADMIN_IDS, ...config.TELEGRAM_OWNER_IDS]);
  const owners = new AdminList(config.TELEGRAM_OWNER_IDS);
  if (admins.size === 0) logger.warn({}, 'bot_no_admins');
  const bot = createJobsBot({
    token,
    service,
    admins,
    owners,
    logger,
    locale: config.LOCALE,
    webappUrl: config.WEBAPP_URL,
    apiRoot: config.TELEGRAM_API_ROOT,
    readOnly: config.DASHBOARD_READ_ONLY,
    ...extra,
  });
  const secret = webhookSecret(config, token);
  const mode = webhookUrl ? 'webhook' : 'polling';
  const mounts: ChatOps['mounts'] = [];
  if (webhookUrl) {
    const path = new URL(webhookUrl).pathname;
    const handle = webhookCallback(bot, 'express', {
      secretToken: secret,
      onTimeout: 'return',
      timeoutMilliseconds: 9000,
    });
    mounts.push((app) => {
      app.post(path, handle);
    });
  }

  return {
    bot,
    mode,
    mounts,
    start() {
      if (webhookUrl) {
        bot
          .init()
          .then(() =>
            bot.api.setWebhook(webhookUrl, { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] }),
          )
          .then(() => logger.info({ mode, username: bot.botInfo.username }, 'bot_started'))
          .catch((err: Error) => logger.error({ err: err.message }, 'bot_webhook_failed'));
        return;
      }
      bot
        .start({
          allowed_updates: [...ALLOWED_UPDATES],
          onStart: (me) => logger.info({ mode, username: me.username }, 'bot_started'),
        })
        .then(() => logger.info({}, 'bot_stopped'))
        .catch((err: Error) => logger.error({ err: err.message }, 'bot_polling_failed'));
    },
    async stop() {
      if (!bot.isRunning()) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        bot.stop().catch((err: Error) => logger.warn({ err: err.message }, 'bot_stop_failed')),
        new Promise((r) => {
          timer = setTimeout(r, 5000);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
