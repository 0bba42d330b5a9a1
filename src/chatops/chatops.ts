import { createHash } from 'node:crypto';
import { type Bot, GrammyError, webhookCallback } from 'grammy';
import type { Logger } from 'pino';
import type { ApiDeps } from '../api/app';
import type { Config } from '../config';
import { ConfigError } from '../config-file';
import type { Lifecycle } from '../launcher';
import type { JobsService } from '../monitor/jobs-service';
import { AdminList } from './access';
import { createJobsBot, type JobsBotOptions } from './jobs-bot';

/**
 * The ChatOps bot: the `bot` role's part. `start()` waits for grammY's init (getMe): a token the Bot API
 * refuses fails start-up with a ConfigError naming TELEGRAM_BOT_TOKEN; a Bot API that doesn't answer within
 * `initWaitMs` is logged once (`bot_api_unreachable`) and the rest of the process starts, while grammY keeps
 * trying (its backoff, up to 20 min apart) and the bot begins when it answers (`bot_api_reachable`). Then it starts long
 * polling, or registers the webhook. `stop(deadline)` ends long polling
 * (within 5 s); the webhook, if any, stays registered for the next start.
 */
export interface ChatOps extends Lifecycle {
  bot: Bot;
  mode: 'polling' | 'webhook';
  /** Mounts for createApp: the webhook route in webhook mode, nothing in polling mode. */
  mounts: NonNullable<ApiDeps['mounts']>;
}

/** How long start-up waits for the Bot API before the process starts without it (the bot begins later). */
export interface BotStartTiming {
  /** @defaultValue 10 000 ms */
  initWaitMs?: number;
}

/**
 * The start-up error for a token the Bot API refuses (401 Unauthorized, or 404 for a malformed one), or null
 * for any other failure. The token itself is never in the message.
 */
export function refusedTokenError(err: unknown): ConfigError | null {
  if (!(err instanceof GrammyError) || ![401, 404].includes(err.error_code)) return null;
  return new ConfigError(
    `environment: TELEGRAM_BOT_TOKEN: the Telegram Bot API refused the token (${err.error_code} ${err.description}); use the token @BotFather gave, or unset TELEGRAM_BOT_TOKEN to run without the bot`,
  );
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
  timing: BotStartTiming = {},
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

  const initWaitMs = timing.initWaitMs ?? 10_000;
  // Aborted by stop(): grammY's init retries an unreachable Bot API by itself until it answers.
  const initAbort = new AbortController();
  let stopped = false;
  let begun = false;
  /** Once the bot knows itself: long polling, or the webhook registered. */
  const begin = () => {
    if (begun || stopped) return;
    begun = true;
    if (webhookUrl) {
      bot.api
        .setWebhook(webhookUrl, { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] })
        .then(() => logger.info({ mode, username: bot.botInfo.username }, 'bot_started'))
        .catch((err: unknown) => logger.error({ err }, 'bot_webhook_failed'));
      return;
    }
    bot
      .start({
        allowed_updates: [...ALLOWED_UPDATES],
        onStart: (me) => logger.info({ mode, username: me.username }, 'bot_started'),
      })
      .then(() => logger.info({}, 'bot_stopped'))
      .catch((err: unknown) => logger.error({ err }, 'bot_polling_failed'));
  };

  return {
    name: 'bot',
    bot,
    mode,
    mounts,
    async start() {
      // grammY's init (getMe): a refused token is the start-up error; network errors and 5xx it retries itself.
      const signal = initAbort.signal as Parameters<Bot['init']>[0];
      const init = bot.init(signal).catch((err: unknown) => {
        throw refusedTokenError(err) ?? err;
      });
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<'slow'>((r) => {
        timer = setTimeout(() => r('slow'), initWaitMs);
      });
      try {
        if ((await Promise.race([init.then(() => 'ready' as const), slow])) === 'ready') return begin();
      } finally {
        clearTimeout(timer);
      }
      // No answer yet: the rest of the process starts; the bot begins as soon as the Bot API answers.
      // (grammY keeps its own retries' errors to its debug log: this line stands for the outage.)
      logger.warn({ wait_ms: initWaitMs }, 'bot_api_unreachable');
      init.then(
        () => {
          if (!stopped) logger.info({}, 'bot_api_reachable');
          begin();
        },
        (err: unknown) => {
          if (!stopped)
            logger.error({ err }, err instanceof ConfigError ? 'bot_token_refused' : 'bot_init_failed');
        },
      );
    },
    async stop(deadline) {
      stopped = true;
      initAbort.abort();
      if (!bot.isRunning()) return;
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        bot.stop().then(
          () => true,
          (err: unknown) => {
            logger.warn({ err }, 'bot_stop_failed');
            return true;
          },
        ),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), Math.max(0, Math.min(5000, deadline - Date.now())));
        }),
      ]);
      clearTimeout(timer);
      // Telegram did not answer the last poll: the stop is abandoned (the launcher reports it, exit 1).
      if (!done) throw new Error('the Bot API did not answer while polling stopped');
    },
  };
}
