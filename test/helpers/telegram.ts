import type { Transformer } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';

/** The bot's own identity in tests (what getMe would answer). */
export const BOT_INFO: UserFromGetMe = {
  id: 4242,
  is_bot: true,
  first_name: 'Jobs Monitor',
  username: 'jobs_monitor_test_bot',
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
} as UserFromGetMe;

let nextUpdateId = 1;
let nextMessageId = 1000;

export interface Who {
  chatId: number;
  userId?: number;
  /** The sender's @username (without the @), when they have one. */
  username?: string;
  chatType?: 'private' | 'group' | 'supergroup';
}

const chatOf = (who: Who) =>
  who.chatType && who.chatType !== 'private'
    ? { id: who.chatId, type: who.chatType, title: 'ops' }
    : { id: who.chatId, type: 'private' as const, first_name: 'On-call' };
const userOf = (who: Who) => ({
  id: who.userId ?? who.chatId,
  is_bot: false,
  first_name: 'On-call',
  ...(who.username ? { username: who.username } : {}),
});

/** A text message update; a leading /command gets its bot_command entity, as Telegram sends it. */
export function messageUpdate(text: string, who: Who): Update {
  const command = /^\/\S+/.exec(text);
  return {
    update_id: nextUpdateId++,
    message: {
      message_id: nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: chatOf(who),
      from: userOf(who),
      text,
      ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command[0].length }] } : {}),
    },
  } as Update;
}

/** A button press on a message the bot sent. */
export function callbackUpdate(data: string, who: Who, messageId = 1): Update {
  return {
    update_id: nextUpdateId++,
    callback_query: {
      id: String(nextUpdateId * 7),
      chat_instance: 'ci',
      from: userOf(who),
      data,
      message: {
        message_id: messageId,
        date: Math.floor(Date.now() / 1000),
        chat: chatOf(who),
        from: { id: BOT_INFO.id, is_bot: true, first_name: BOT_INFO.first_name },
        text: 'previous message',
      },
    },
  } as Update;
}

export interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
}

/** A plausible result for each Bot API method the bot uses. */
export function fakeResult(method: string, payload: Record<string, unknown>, messageId: number): unknown {
  if (method === 'sendMessage' || method === 'editMessageText') {
    return {
      message_id: (payload.message_id as number | undefined) ?? messageId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: payload.chat_id, type: 'private', first_name: 'On-call' },
      text: payload.text,
    };
  }
  if (method === 'getMe') return BOT_INFO;
  if (method === 'getUpdates') return [];
  return true;
}

/**
 * Captures every Bot API call the bot makes (installed as the innermost grammY transformer: nothing
 * reaches the network) and answers it. `failNext` makes the next calls of a method answer an error.
 */
export function captureApi() {
  const calls: ApiCall[] = [];
  const failures: { method: string; response: Record<string, unknown> | Error }[] = [];
  let messageId = 5000;
  const transformer: Transformer = async (_prev, method, payload) => {
    const p = (payload ?? {}) as Record<string, unknown>;
    calls.push({ method, payload: p });
    const i = failures.findIndex((f) => f.method === method);
    if (i >= 0) {
      const [f] = failures.splice(i, 1);
      if (f.response instanceof Error) throw f.response;
      return f.response as never;
    }
    return { ok: true, result: fakeResult(method, p, messageId++) } as never;
  };
  return {
    calls,
    transformer,
    /** The next `times` calls of `method` get this error answer (or throw this error, like a network failure). */
    failNext(method: string, response: Record<string, unknown> | Error, times = 1) {
      for (let i = 0; i < times; i++) failures.push({ method, response });
    },
    /** Forgets the calls so far. */
    reset() {
      calls.length = 0;
    },
    sent(method = 'sendMessage') {
      return calls.filter((c) => c.method === method);
    },
    texts(method = 'sendMessage') {
      return calls.filter((c) => c.method === method).map((c) => String(c.payload.text));
    },
  };
}

/** Callback data of every inline button of a call's reply_markup, by button text. */
export function buttons(call: ApiCall | undefined): { text: string; data: string }[] {
  const markup = call?.payload.reply_markup as
    | { inline_keyboard: { text: string; callback_data: string }[][] }
    | undefined;
  return (markup?.inline_keyboard ?? []).flat().map((b) => ({ text: b.text, data: b.callback_data }));
}

/** Every tag opened in a part is closed in the same part. */
export function balanced(html: string): boolean {
  const stack: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-z]+)[^>]*>/g)) {
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else stack.push(m[2]);
  }
  return stack.length === 0;
}
