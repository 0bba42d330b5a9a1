import type { Context, InlineKeyboard } from 'grammy';
import { escapeHtml, link } from './html';
import type { FormatContext } from './format';
import { dashboardUrl } from './format';
import { splitMessage } from './split';

/** Options every HTML message is sent with. */
export const HTML_OPTS = { parse_mode: 'HTML', link_preview_options: { is_disabled: true } } as const;

/**
 * Sends an HTML reply, split over several messages when longer than Telegram's limit (cut after 5 with a
 * "more in the dashboard" link). The keyboard, if any, goes on the last message.
 */
export async function sendHtml(
  ctx: Context,
  html: string,
  fc: FormatContext,
  keyboard?: InlineKeyboard,
): Promise<void> {
  const url = dashboardUrl(fc.webappUrl);
  const more = url ? link(url, escapeHtml(fc.t.moreInDashboard)) : escapeHtml(fc.t.moreNotShown);
  const parts = splitMessage(html, { more });
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    await ctx.reply(parts[i], { ...HTML_OPTS, ...(last && keyboard ? { reply_markup: keyboard } : {}) });
  }
}
