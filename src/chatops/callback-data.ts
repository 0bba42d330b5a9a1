import { createHash } from 'node:crypto';

/**
 * Inline-button payloads. Telegram allows 1-64 bytes of callback data, so ids that don't fit are sent as
 * `#` + a 16-character hash and resolved against the registry (jobs) or the recent failures (runs).
 *
 * - `ra:<job>` / `ta:<run>`: ask to run a job / retry a run (shows the confirmation)
 * - `rc:<t>:<job>` / `tc:<t>:<run>`: confirmed, where `t` is when the confirmation was shown (base-36 seconds)
 * - `x`: cancel
 */
export type BotAction =
  | { kind: 'run_ask'; ref: string }
  | { kind: 'run_confirm'; ref: string; at: number }
  | { kind: 'retry_ask'; ref: string }
  | { kind: 'retry_confirm'; ref: string; at: number }
  | { kind: 'cancel' }
  /** #12: `ka`/`kc` stop (cancel) a run, `pa`/`pc` pause a job, `ua`/`uc` resume it. */
  | { kind: 'stop_ask' | 'pause_ask' | 'resume_ask'; ref: string }
  | { kind: 'stop_confirm' | 'pause_confirm' | 'resume_confirm'; ref: string; at: number };

/** Telegram's limit on callback data, in bytes. */
export const MAX_CALLBACK_BYTES = 64;
/** Longest id sent as is; longer ones are hashed. */
const MAX_LITERAL = 48;

/** Stable short reference to an id: the id itself when short, otherwise `#` + hash. */
export function refFor(id: string): string {
  return id.length <= MAX_LITERAL && !id.startsWith('#') && Buffer.byteLength(id) === id.length
    ? id
    : `#${createHash('sha256').update(id, 'utf8').digest('base64url').slice(0, 16)}`;
}

/** True when `ref` (from {@link refFor}) designates `id`. */
export function refMatches(ref: string, id: string): boolean {
  return refFor(id) === ref;
}

const PREFIX = {
  run_ask: 'ra',
  run_confirm: 'rc',
  retry_ask: 'ta',
  retry_confirm: 'tc',
  stop_ask: 'ka',
  stop_confirm: 'kc',
  pause_ask: 'pa',
  pause_confirm: 'pc',
  resume_ask: 'ua',
  resume_confirm: 'uc',
} as const;
const ASK: Record<string, BotAction['kind']> = {
  ra: 'run_ask',
  ta: 'retry_ask',
  ka: 'stop_ask',
  pa: 'pause_ask',
  ua: 'resume_ask',
};
const CONFIRM: Record<string, BotAction['kind']> = {
  rc: 'run_confirm',
  tc: 'retry_confirm',
  kc: 'stop_confirm',
  pc: 'pause_confirm',
  uc: 'resume_confirm',
};

/** Encodes an action; the result is always at most 64 bytes. */
export function encodeAction(action: BotAction): string {
  switch (action.kind) {
    case 'cancel':
      return 'x';
    case 'run_ask':
    case 'retry_ask':
    case 'stop_ask':
    case 'pause_ask':
    case 'resume_ask':
      return `${PREFIX[action.kind]}:${action.ref}`;
    default:
      return `${PREFIX[action.kind]}:${Math.floor(action.at / 1000).toString(36)}:${action.ref}`;
  }
}

/** Decodes callback data; null for anything that is not ours. */
export function decodeAction(data: string): BotAction | null {
  if (data === 'x') return { kind: 'cancel' };
  const m = /^(ra|ta|ka|pa|ua):(.{1,60})$/.exec(data);
  if (m) return { kind: ASK[m[1]], ref: m[2] } as BotAction;
  const c = /^(rc|tc|kc|pc|uc):([0-9a-z]{1,10}):(.{1,60})$/.exec(data);
  if (c) {
    const at = Number.parseInt(c[2], 36) * 1000;
    return { kind: CONFIRM[c[1]], ref: c[3], at } as BotAction;
  }
  return null;
}
