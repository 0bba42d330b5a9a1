import { GrammyError, HttpError } from 'grammy';
import { AppError } from '../monitor/errors';
import { StoreUnavailableError } from '../monitor/store-unavailable-error';
import { logsLine } from './format';
import { code, escapeHtml } from './html';
import type { BotDeps } from './jobs-bot';

/**
 * The bot's one answer to an error, in the user's language: a refusal of the service (AppError, its subject
 * read from `extra.job_id` / `extra.run_id`, else from what the user asked for), "the store is unreachable,
 * try again" for a {@link StoreUnavailableError}, and for anything else a brief "internal error" (logged with
 * its stack as `bot_action_failed`). Every value is escaped. Use it in every command and button handler.
 */
export function errorReply(
  err: unknown,
  deps: Pick<BotDeps, 'fc' | 'logger'>,
  subject: { jobId?: string; runId?: string } = {},
): string {
  const t = deps.fc.t;
  if (err instanceof StoreUnavailableError) {
    deps.logger.warn({ err }, 'bot_store_unavailable');
    return t.refused.store_unavailable;
  }
  if (!(err instanceof AppError)) {
    deps.logger.error({ err }, 'bot_action_failed');
    return t.refused.other(escapeHtml('internal error (see the logs)'));
  }
  const idOf = (key: 'job_id' | 'run_id', fallback?: string) => {
    const v = err.extra[key];
    return typeof v === 'string' ? v : (fallback ?? '');
  };
  const job = code(idOf('job_id', subject.jobId));
  const run = code(idOf('run_id', subject.runId));
  const status = escapeHtml(String(err.extra.status ?? ''));
  switch (err.code) {
    case 'job_disabled':
      return t.refused.job_disabled(job);
    case 'job_not_triggerable':
      return t.refused.job_not_triggerable(job);
    case 'job_not_found':
      return t.refused.job_not_found(job);
    case 'job_paused':
      return t.ops.job_paused(job);
    case 'job_already_running': {
      const active = idOf('run_id');
      return t.refused.job_already_running(job, code(active)) + logsLine(deps.fc, active, '');
    }
    case 'run_not_found':
      return t.refused.run_not_found(run);
    case 'run_not_failed':
      return t.refused.run_not_failed(run, status);
    case 'run_not_active':
      return t.ops.run_not_active(run, status);
    case 'run_already_retried': {
      // Here `run_id` names the retry that exists; the refused run is the one the user asked for.
      const retry = idOf('run_id');
      const asked = code(subject.runId ?? '');
      return t.refused.run_already_retried(asked, code(retry)) + (retry ? logsLine(deps.fc, retry, '') : '');
    }
    default:
      return t.refused.other(escapeHtml(err.message));
  }
}

/**
 * True when the Bot API itself failed (a refusal or the network): there is no reply to send, the error goes
 * to the bot's error boundary (`bot_update_failed`) instead.
 */
export function isBotApiError(err: unknown): boolean {
  return err instanceof GrammyError || err instanceof HttpError;
}

/** The stable code of an error for a log line: the AppError's, `store_unavailable`, else `error`. */
export function errorCode(err: unknown): string {
  if (err instanceof AppError || err instanceof StoreUnavailableError) return err.code;
  return 'error';
}
