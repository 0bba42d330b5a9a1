import { type Context, InlineKeyboard } from 'grammy';
import type { JobRun } from '../monitor/run';
import { type BotAction, encodeAction, refFor, refMatches } from './callback-data';
import { auditRefusedPress, telegramPrincipal } from './bot-actions';
import { code, escapeHtml } from './html';
import type { BotDeps } from './jobs-bot';
import { errorReply, isBotApiError } from './refusals';
import { HTML_OPTS } from './reply';

type OpsAction = Extract<
  BotAction,
  { kind: 'stop_ask' | 'pause_ask' | 'resume_ask' | 'stop_confirm' | 'pause_confirm' | 'resume_confirm' }
>;

/** True for the #12 buttons this module handles (stop a run, pause/resume a job). */
export function isOpsAction(a: BotAction): a is OpsAction {
  return /^(stop|pause|resume)_/.test(a.kind);
}

/** "⛔ Stop <job>" buttons, one per active run (at most 10). */
export function stopKeyboard(runs: JobRun[], deps: BotDeps): InlineKeyboard | undefined {
  const kb = new InlineKeyboard();
  for (const run of runs.slice(0, 10))
    kb.text(
      `${deps.fc.t.ops.stop} ${run.job_id}`,
      encodeAction({ kind: 'stop_ask', ref: refFor(run.run_id) }),
    ).row();
  return runs.length ? kb : undefined;
}

/** Adds Pause or Resume to a job's keyboard (pressing it is refused for non-owners). */
export function addPauseButton(kb: InlineKeyboard, jobId: string, paused: boolean, deps: BotDeps): void {
  const t = deps.fc.t.ops;
  kb.text(
    paused ? t.resume : t.pause,
    encodeAction({ kind: paused ? 'resume_ask' : 'pause_ask', ref: refFor(jobId) }),
  );
}

/**
 * Stop / Pause / Resume: the first press shows a confirmation, the confirmation acts through the same
 * audited OperatorActions as the API, and the message becomes the outcome or the refusal. Pause and resume
 * need the admin role (TELEGRAM_OWNER_IDS).
 */
export async function handleOpsAction(ctx: Context, deps: BotDeps, action: OpsAction): Promise<void> {
  const t = deps.fc.t;
  const who = telegramPrincipal(ctx, deps);
  const edit = (html: string) => ctx.editMessageText(html, HTML_OPTS);
  const job = (ref: string) => deps.service.registry.jobs.find((j) => refMatches(ref, j.job_id))?.job_id;
  const confirm = (html: string, kind: OpsAction['kind'], ref: string) =>
    ctx.reply(html, {
      ...HTML_OPTS,
      reply_markup: new InlineKeyboard()
        .text(
          t.confirmYes,
          encodeAction({ kind: kind.replace('_ask', '_confirm'), ref, at: deps.now() } as BotAction),
        )
        .text(t.cancel, encodeAction({ kind: 'cancel' })),
    });
  const needsOwner = action.kind.startsWith('pause') || action.kind.startsWith('resume');
  if (needsOwner && who.role !== 'admin') {
    await auditRefusedPress(deps, action, who, 'forbidden_role');
    await ctx.reply(escapeHtml(t.ops.forbidden_role), HTML_OPTS);
    return;
  }
  try {
    switch (action.kind) {
      case 'stop_ask': {
        const run = await findActiveRun(deps, action.ref);
        await confirm(t.ops.confirmStop(code(run.job_id), code(run.run_id)), action.kind, action.ref);
        return;
      }
      case 'pause_ask':
      case 'resume_ask': {
        const jobId = job(action.ref);
        if (!jobId) return void (await ctx.reply(t.refused.job_not_found(code(action.ref)), HTML_OPTS));
        const text =
          action.kind === 'pause_ask' ? t.ops.confirmPause(code(jobId)) : t.ops.confirmResume(code(jobId));
        await confirm(text, action.kind, action.ref);
        return;
      }
    }
    const age = deps.now() - action.at;
    if (age > deps.confirmTtlMs || age < -60_000) return void (await edit(escapeHtml(t.expired)));
    if (action.kind === 'stop_confirm') {
      const run = await findActiveRun(deps, action.ref);
      const out = await deps.actions.cancel(who, run.run_id);
      const msg = out.status === 'cancelled' ? t.ops.stopped : t.ops.stopping;
      await edit(msg(code(run.job_id), code(run.run_id)));
      return;
    }
    const jobId = job(action.ref) ?? action.ref;
    if (action.kind === 'pause_confirm') {
      await deps.actions.pause(who, jobId);
      await edit(t.ops.paused(code(jobId)));
    } else {
      await deps.actions.resume(who, jobId);
      await edit(t.ops.resumed(code(jobId)));
    }
  } catch (err) {
    if (isBotApiError(err)) throw err;
    await ctx.reply(errorReply(err, deps), HTML_OPTS);
  }
}

/** A literal run id as is; a hashed one looked up among the active runs. */
async function findActiveRun(deps: BotDeps, ref: string): Promise<JobRun> {
  if (!ref.startsWith('#')) return deps.service.getRun(ref);
  const runs = await deps.service.activeRuns(200);
  const run = runs.find((r) => refMatches(ref, r.run_id));
  return run ?? deps.service.getRun(ref);
}
