/**
 * HTML helpers for Telegram's `parse_mode: 'HTML'`. Every value that comes from a job, a run, an error or
 * a user goes through {@link escapeHtml} before it reaches a message, so it can never add formatting.
 */

/** Escapes `&`, `<`, `>` and `"` (the characters Telegram's HTML parser gives meaning to). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `<code>` around an escaped value. */
export function code(text: string): string {
  return `<code>${escapeHtml(text)}</code>`;
}

/** `<b>` around an escaped value. */
export function bold(text: string): string {
  return `<b>${escapeHtml(text)}</b>`;
}

/** A link; `label` is already HTML (escape it first), the URL is escaped here. */
export function link(url: string, label: string): string {
  return `<a href="${escapeHtml(url)}">${label}</a>`;
}

/** Cuts plain text to `max` characters (with an ellipsis) before it is escaped. */
export function clip(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** Removes tags and decodes the four entities: the text a Telegram user sees (used by tests and the splitter). */
export function visibleText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}
