import { type Context, InlineKeyboard } from 'grammy';
import type { AuditAction, AuditActor } from '../monitor/audit';
import type { Principal } from '../monitor/principal';
import { RUN_ID } from '../monitor/run';
import { type BotAction, decodeAction, encodeAction, refMatches } from './callback-data';
import { logsLine } from './format';
import { code, escapeHtml } from './html';
import type { BotDeps } from './jobs-bot';
import { handleOpsAction, isOpsAction } from './ops-actions';
import { errorCode, errorReply, isBotApiError } from './refusals';
import { HTML_OPTS } from './reply';

/** How many recent failures a hashed run reference is looked up in. */
const RETRY_LOOKUP = 200;

/**
 * Handles an inline-button press: "Run now" / "Retry" show a confirmation; the confirmation runs the job
 * (or retries the run) through JobsService and becomes the answer: the new run_id or the refusal.
 */
export async function handleAction(ctx: Context, deps: BotDeps): Promise<void> {
  const { t } = deps.fc;
  const action = decodeAction(ctx.callbackQuery?.data ?? '');
  await ctx.answerCallbackQuery();
  if (!action) return;
  // DASHBOARD_READ_ONLY caps everyone at viewer, here too: a button from an older message is refused.
  if (deps.readOnly && action.kind !== 'cancel') {
    await auditRefusedPress(deps, action, telegramPrincipal(ctx, deps), 'read_only');
    await ctx.reply(escapeHtml(t.ops.read_only), HTML_OPTS);
    return;
  }
  if (isOpsAction(action)) return handleOpsAction(ctx, deps, action);
  const edit = (html: string) => ctx.editMessageText(html, HTML_OPTS);
  const confirm = (html: string, kind: 'run_confirm' | 'retry_confirm', ref: string) =>
    ctx.reply(html, {
      ...HTML_OPTS,
      reply_markup: new InlineKeyboard()
        .text(t.confirmYes, encodeAction({ kind, ref, at: deps.now() }))
        .text(t.cancel, encodeAction({ kind: 'cancel' })),
    });

  switch (action.kind) {
    case 'cancel':
      await edit(escapeHtml(t.cancelled));
      return;
    case 'run_ask': {
      const jobId = findJob(deps, action.ref);
      if (!jobId) {
        await ctx.reply(t.refused.job_not_found(code(action.ref)), HTML_OPTS);
        return;
      }
      await confirm(t.confirmRun(code(jobId)), 'run_confirm', action.ref);
      return;
    }
    case 'retry_ask': {
      const runId = await findRun(deps, action.ref);
      try {
        const run = await deps.service.getRun(runId);
        await confirm(t.confirmRetry(code(run.job_id), code(run.run_id)), 'retry_confirm', action.ref);
      } catch (err) {
        if (isBotApiError(err)) throw err;
        await ctx.reply(errorReply(err, deps, { runId }), HTML_OPTS);
      }
      return;
    }
    case 'run_confirm':
    case 'retry_confirm': {
      const age = deps.now() - action.at;
      if (age > deps.confirmTtlMs || age < -60_000) {
        await edit(escapeHtml(t.expired));
        return;
      }
      const actor = { chat_id: ctx.chat?.id, user_id: ctx.from?.id };
      if (action.kind === 'run_confirm') {
        const jobId = findJob(deps, action.ref) ?? action.ref;
        try {
          const { run_id } = await deps.actions.trigger(telegramPrincipal(ctx, deps), jobId);
          deps.logger.info({ ...actor, job_id: jobId, run_id }, 'bot_job_triggered');
          await edit(t.started(code(jobId), code(run_id)) + logsLine(deps.fc, run_id, ''));
        } catch (err) {
          if (isBotApiError(err)) throw err;
          deps.logger.info({ ...actor, job_id: jobId, code: errorCode(err) }, 'bot_trigger_refused');
          await edit(errorReply(err, deps, { jobId }));
        }
      } else {
        const runId = await findRun(deps, action.ref);
        let jobId: string | undefined;
        try {
          jobId = (await deps.service.getRun(runId)).job_id;
          const { run_id } = await deps.actions.retry(telegramPrincipal(ctx, deps), runId);
          deps.logger.info({ ...actor, job_id: jobId, retried_run_id: runId, run_id }, 'bot_run_retried');
          await edit(t.retried(code(jobId), code(run_id)) + logsLine(deps.fc, run_id, ''));
        } catch (err) {
          if (isBotApiError(err)) throw err;
          deps.logger.info({ ...actor, run_id: runId, code: errorCode(err) }, 'bot_retry_refused');
          await edit(errorReply(err, deps, { jobId, runId }));
        }
      }
    }
  }
}

/**
 * Who pressed the button: named `<user id> (@username)` (so `triggered_by` reads `telegram:<id> (@user)`),
 * role admin when listed in TELEGRAM_OWNER_IDS, else operator (viewer under DASHBOARD_READ_ONLY); runs they
 * start are stored under their user id.
 */
export function telegramPrincipal(ctx: Context, deps: Pick<BotDeps, 'owners' | 'readOnly'>): Principal {
  const from = ctx.from;
  const id = from ? String(from.id) : String(ctx.chat?.id ?? 'unknown');
  const owner = deps.owners?.allows(ctx.chat?.id, from?.id) ?? false;
  return {
    name: `${id}${from?.username ? ` (@${from.username})` : ''}`,
    role: deps.readOnly ? 'viewer' : owner ? 'admin' : 'operator',
    via: 'telegram',
    ...(from ? { user_id: String(from.id) } : {}),
  };
}

/** The action a button asks for, as the audit log names it (Back, `cancel`, acts on nothing). */
const AUDITED: Record<Exclude<BotAction['kind'], 'cancel'>, AuditAction> = {
  run_ask: 'trigger',
  run_confirm: 'trigger',
  retry_ask: 'retry',
  retry_confirm: 'retry',
  stop_ask: 'cancel',
  stop_confirm: 'cancel',
  pause_ask: 'pause',
  pause_confirm: 'pause',
  resume_ask: 'resume',
  resume_confirm: 'resume',
};

/**
 * Audits a press refused before it acted (`read_only`, `forbidden_role`, `not_allowed`) as the action the
 * button is for, with the job or run it names: a job known to the registry; a run by its id, or for a hashed
 * reference looked up where the button found it (the recent failures, the active runs) when `lookup` (not
 * for users on no list: a press of theirs costs no store read). `detail` names the button.
 */
export async function auditRefusedPress(
  deps: BotDeps,
  action: BotAction,
  who: AuditActor,
  reason: string,
  { lookup = true }: { lookup?: boolean } = {},
): Promise<void> {
  if (action.kind === 'cancel') return;
  const attempted = AUDITED[action.kind];
  const subject: { job_id?: string; run_id?: string } = {};
  if (attempted === 'trigger' || attempted === 'pause' || attempted === 'resume') {
    const jobId = findJob(deps, action.ref);
    if (jobId) subject.job_id = jobId;
  } else if (!action.ref.startsWith('#')) {
    // The button's data is the caller's to send: only a well-formed run id is written into the audit.
    if (RUN_ID.test(action.ref)) subject.run_id = action.ref;
  } else if (lookup) {
    const runs = await (attempted === 'retry'
      ? deps.service.latestFailures(RETRY_LOOKUP)
      : deps.service.activeRuns(200)
    ).catch(() => []);
    const run = runs.find((r) => refMatches(action.ref, r.run_id));
    if (run) subject.run_id = run.run_id;
  }
  await deps.actions.refused(who, attempted, reason, { ...subject, detail: `telegram ${action.kind}` });
}

function findJob(deps: BotDeps, ref: string): string | undefined {
  return deps.service.registry.jobs.find((j) => refMatches(ref, j.job_id))?.job_id;
}

/** A literal run id as is; a hashed one looked up among the recent failures (only failed runs are retried). */
async function findRun(deps: BotDeps, ref: string): Promise<string> {
  if (!ref.startsWith('#')) return ref;
  const runs = await deps.service.latestFailures(RETRY_LOOKUP);
  return runs.find((r) => refMatches(ref, r.run_id))?.run_id ?? ref;
}
