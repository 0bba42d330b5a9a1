import { Bot, type BotError, InlineKeyboard, type Transformer } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Logger } from 'pino';
import type { JobsService } from '../monitor/jobs-service';
import { OperatorActions } from '../monitor/operator-actions';
import type { JobRun } from '../monitor/run';
import { type AdminList, MemoryRefusals, RefusalAuditBudget, type RefusalMemory } from './access';
import { type RetryOptions, retryTransformer } from './api-retry';
import { auditRefusedPress, handleAction, telegramPrincipal } from './bot-actions';
import { addPauseButton, stopKeyboard } from './ops-actions';
import { decodeAction, encodeAction, refFor } from './callback-data';
import {
  type FormatContext,
  formatActive,
  formatFailed,
  formatJobDetails,
  formatOverview,
  formatUsage,
  formatWhen,
} from './format';
import { clip } from './html';
import { type Locale, messagesFor } from './i18n';
import { errorReply, isBotApiError } from './refusals';
import { sendHtml } from './reply';
import type { ScheduleReader } from '../monitor/job-stats';
import type { WorkersSource } from '../monitor/workers';
import { visCommand } from './vis-commands';

export interface JobsBotOptions {
  token: string;
  service: JobsService;
  admins: AdminList;
  /** Who has the admin role in the bot (TELEGRAM_OWNER_IDS): may pause and resume jobs. */
  owners?: AdminList;
  /** Audited operator actions (default: the service's, audited in memory). */
  actions?: OperatorActions;
  logger: Logger;
  /** LOCALE (BOT_LOCALE is its alias; default en). */
  locale?: Locale;
  /** WEBAPP_URL for logs links. */
  webappUrl?: string;
  /** TELEGRAM_API_ROOT (grammY's apiRoot). */
  apiRoot?: string;
  /** Time zone of the dates shown (default: the process's). */
  timeZone?: string;
  /** Where refused chats are remembered (default: in memory). */
  refusals?: RefusalMemory;
  /** Known bot info, which skips getMe (tests, webhook setups). */
  botInfo?: UserFromGetMe;
  /** Transformers installed closest to the network, inside the retry transformer (tests capture calls here). */
  transformers?: Transformer[];
  retry?: RetryOptions;
  /** How long a "Run now"/"Retry" confirmation stays valid (default 10 minutes). */
  confirmTtlMs?: number;
  now?: () => number;
  /** Live workers and queue depths (`/jobs workers`). */
  workers?: WorkersSource;
  /** When each job's scheduler fires next (`/jobs <job_id>` shows it). */
  schedules?: ScheduleReader;
  /** DASHBOARD_READ_ONLY: everyone is a viewer here too (no action buttons; presses refused `read_only`). */
  readOnly?: boolean;
}

/** Everything the command and button handlers share. */
export interface BotDeps {
  service: JobsService;
  /** Audited trigger/retry/cancel/pause (the same as the API's). */
  actions: OperatorActions;
  /** TELEGRAM_OWNER_IDS: the bot's admins. */
  owners?: AdminList;
  fc: FormatContext;
  logger: Logger;
  confirmTtlMs: number;
  now: () => number;
  /** Visibility commands (src/chatops/vis-commands.ts). */
  vis: { workers?: WorkersSource; locale: Locale; schedules?: ScheduleReader };
  /** DASHBOARD_READ_ONLY (see {@link JobsBotOptions.readOnly}). */
  readOnly?: boolean;
}

/**
 * Builds the ChatOps bot: `/jobs` and its sub-commands, the Run now / Retry buttons with confirmation,
 * the admin guard, HTML escaping, splitting, and Bot API retries. Nothing is sent until updates arrive
 * (through `bot.start()`, a webhook or `bot.handleUpdate`). Errors are logged, never thrown.
 */
export function createJobsBot(opts: JobsBotOptions): Bot {
  const t = messagesFor(opts.locale ?? 'en');
  const logger = opts.logger;
  const deps: BotDeps = {
    service: opts.service,
    actions: opts.actions ?? new OperatorActions(opts.service),
    owners: opts.owners,
    fc: { t, webappUrl: opts.webappUrl, timeZone: opts.timeZone, locale: opts.locale ?? 'en' },
    logger,
    confirmTtlMs: opts.confirmTtlMs ?? 10 * 60_000,
    now: opts.now ?? Date.now,
    vis: { workers: opts.workers, locale: opts.locale ?? 'en', schedules: opts.schedules },
    readOnly: opts.readOnly,
  };
  const refusals = opts.refusals ?? new MemoryRefusals();
  const auditBudget = new RefusalAuditBudget();
  const bot = new Bot(opts.token, {
    botInfo: opts.botInfo,
    client: opts.apiRoot ? { apiRoot: opts.apiRoot } : undefined,
  });
  bot.api.config.use(
    ...(opts.transformers ?? []),
    retryTransformer({
      ...opts.retry,
      onRetry: (info) => {
        logger.warn(info, 'bot_api_retry');
        opts.retry?.onRetry?.(info);
      },
    }),
  );

  const onError = (err: BotError) => {
    // `err` through pino's serializer (stack kept); a Bot API refusal also gives its code and description.
    const e = err.error as { description?: string; error_code?: number } | undefined;
    logger.error(
      {
        update_id: err.ctx.update.update_id,
        code: e?.error_code,
        description: e?.description,
        err: err.error,
      },
      'bot_update_failed',
    );
  };
  bot.catch(onError);
  const safe = bot.errorBoundary(onError);

  // Guard: only admins get past; everyone else gets one polite refusal per chat and nothing about jobs.
  safe.use(async (ctx, next) => {
    if (opts.admins.allows(ctx.chat?.id, ctx.from?.id)) return next();
    if (!ctx.message && !ctx.callbackQuery) return;
    const chatId = ctx.chat?.id ?? ctx.from?.id ?? 0;
    const first = await refusals.firstRefusal(chatId);
    logger.info({ chat_id: ctx.chat?.id, user_id: ctx.from?.id, first }, 'bot_refused');
    // A press of an action button (Run now, Retry, Stop, Pause, Resume, or their confirmation) is an attempted
    // action: audited (`not_allowed`, by a user with no role) without holding up the answer, up to a budget
    // per user and minute. Commands and messages are only logged.
    const pressed = ctx.callbackQuery?.data ? decodeAction(ctx.callbackQuery.data) : null;
    if (pressed && auditBudget.take(ctx.from?.id ?? chatId)) {
      const who = { ...telegramPrincipal(ctx, deps), role: null };
      // Never rejects: the audit log logs a failed write itself (audit_write_failed).
      void auditRefusedPress(deps, pressed, who, 'not_allowed', { lookup: false });
    }
    const text = t.refusal(String(chatId));
    if (ctx.callbackQuery) {
      await ctx.answerCallbackQuery(first ? { text: clip(text, 200), show_alert: true } : undefined);
    } else if (first) {
      await ctx.reply(text);
    }
  });

  safe.command('jobs', async (ctx) => {
    try {
      await jobsCommand(
        ctx.match.trim(),
        deps,
        (html, kb) => sendHtml(ctx, html, deps.fc, kb),
        deps.owners?.allows(ctx.chat?.id, ctx.from?.id) ?? false,
      );
    } catch (err) {
      // A store outage or a refusal gets an answer; a failed Bot API call goes to the error boundary.
      if (isBotApiError(err)) throw err;
      await sendHtml(ctx, errorReply(err, deps), deps.fc);
    }
  });
  safe.command(['start', 'help'], (ctx) =>
    sendHtml(ctx, formatUsage(deps.service.categories(), deps.fc), deps.fc),
  );
  safe.on('callback_query:data', (ctx) => handleAction(ctx, deps));
  return bot;
}

type Send = (html: string, keyboard?: InlineKeyboard) => Promise<void>;

/** `/jobs [active | failed | <job_id> | <category>]`. */
async function jobsCommand(rawArg: string, deps: BotDeps, send: Send, owner = false): Promise<void> {
  const { service, fc } = deps;
  const arg = rawArg.toLowerCase();
  if (await visCommand(rawArg, { ...deps.vis, fc, service }, send)) return;
  if (arg === '') return send(await overview(deps));
  // DASHBOARD_READ_ONLY: the same answers, without action buttons.
  const acts = !deps.readOnly;
  if (arg === 'active') {
    const runs = await service.activeRuns(100);
    return send(formatActive(runs, fc), acts ? stopKeyboard(runs, deps) : undefined);
  }
  if (arg === 'failed') {
    const runs = await service.latestFailures(10);
    return send(formatFailed(runs, fc), acts ? retryKeyboard(runs, deps) : undefined);
  }
  const def = service.registry.get(arg);
  if (def) {
    const { job, runs } = await service.getJob(arg, 5);
    const kb = new InlineKeyboard();
    if (acts && job.can_trigger)
      kb.text(fc.t.runNow, encodeAction({ kind: 'run_ask', ref: refFor(job.job_id) }));
    // Any failed run, static or dynamic (a failed download, sync or batch): the service applies the rules.
    if (acts && runs[0]?.status === 'failed') {
      kb.text(fc.t.retry, encodeAction({ kind: 'retry_ask', ref: refFor(runs[0].run_id) }));
    }
    // #12: Pause/Resume (static and dynamic jobs) only for the bot's owners (TELEGRAM_OWNER_IDS).
    if (acts && owner && job.paused !== undefined) addPauseButton(kb, job.job_id, job.paused, deps);
    const next =
      def.enabled && !def.is_dynamic
        ? await deps.vis.schedules?.nextRunAt(def).catch((err: unknown) => {
            // the details are still worth sending without the next run time
            deps.logger.warn({ err, job_id: def.job_id }, 'bot_next_run_failed');
            return null;
          })
        : null;
    return send(formatJobDetails(job, runs, fc, next), kb.inline_keyboard[0]?.length ? kb : undefined);
  }
  if (service.categories().includes(arg)) return send(await overview(deps, arg));
  return send(formatUsage(service.categories(), fc, rawArg));
}

/** `/jobs` (or one category's) with the next run time of every scheduled job (from its job scheduler). */
async function overview(deps: BotDeps, category?: string): Promise<string> {
  const jobs = await deps.service.jobsOverview(category);
  const schedules = deps.vis.schedules;
  const nextRuns = new Map<string, number | null>();
  if (schedules) {
    await Promise.all(
      jobs.map(async (j) => {
        const def = deps.service.registry.get(j.job_id);
        if (!def?.enabled || def.is_dynamic || j.paused) return;
        const next = await schedules.nextRunAt(def).catch((err) => {
          deps.logger.warn({ err, job_id: j.job_id }, 'bot_next_run_failed');
          return null;
        });
        nextRuns.set(j.job_id, next);
      }),
    );
  }
  return formatOverview(jobs, deps.fc, nextRuns);
}

/**
 * One "🔁 Retry <job> <when>" button per failed run, static or dynamic (the service refuses what its rules
 * refuse: a run already retried, a paused job, …), as the dashboard shows Retry on every failed run.
 */
function retryKeyboard(runs: JobRun[], deps: BotDeps): InlineKeyboard | undefined {
  const kb = new InlineKeyboard();
  let any = false;
  for (const run of runs) {
    const when = formatWhen(run.ended_at ?? run.created_at, deps.fc.timeZone);
    kb.text(
      `${deps.fc.t.retry} ${run.job_id} ${when}`,
      encodeAction({ kind: 'retry_ask', ref: refFor(run.run_id) }),
    ).row();
    any = true;
  }
  return any ? kb : undefined;
}
