/** Telegram's limit on one message's text. */
export const TELEGRAM_MAX_CHARS = 4096;

export interface SplitOptions {
  /** Longest part (default 4096). Measured on the HTML source, which is never shorter than what Telegram counts. */
  limit?: number;
  /** Most messages one reply may take; the rest is cut and `more` appended (default 5). */
  maxParts?: number;
  /** HTML appended to the last part when the reply is cut (e.g. a "more in the dashboard" link). */
  more: string;
}

/**
 * Splits an HTML reply into messages Telegram accepts. Cuts between blocks (blank lines), then between
 * items (a line and the indented lines under it), then between lines, so a tag opened on a line is closed in the same part (the formatters keep tags within a line).
 * A single line longer than the limit is cut without its markup. Beyond `maxParts` the reply is cut and
 * ends with `more`.
 */
export function splitMessage(html: string, opts: SplitOptions): string[] {
  const limit = opts.limit ?? TELEGRAM_MAX_CHARS;
  const maxParts = opts.maxParts ?? 5;
  if (html.length <= limit) return [html];
  const room = limit - opts.more.length - 2;
  const pieces: { text: string; sep: string }[] = [];
  for (const block of html.split('\n\n')) {
    const lines = block.length <= room ? [block] : itemsOf(block).flatMap((l) => hardCut(l, room));
    lines.forEach((text, i) => {
      pieces.push({ text, sep: i === 0 ? '\n\n' : '\n' });
    });
  }
  const parts: string[] = [];
  let current = '';
  for (const { text, sep } of pieces) {
    if (current && current.length + sep.length + text.length > room) {
      parts.push(current);
      current = text;
    } else {
      current = current ? current + sep + text : text;
    }
  }
  if (current) parts.push(current);
  if (parts.length <= maxParts) return parts;
  const kept = parts.slice(0, maxParts);
  kept[maxParts - 1] = `${kept[maxParts - 1]}\n\n${opts.more}`;
  return kept;
}

/** A block's items: each line with the indented lines that follow it (kept together when they fit). */
function itemsOf(block: string): string[] {
  const items: string[] = [];
  for (const line of block.split('\n')) {
    if (items.length && /^\s/.test(line)) items[items.length - 1] += `\n${line}`;
    else items.push(line);
  }
  return items;
}

/** A line too long for one message: drop its tags and cut it, never inside an entity. */
function hardCut(line: string, room: number): string[] {
  if (line.length <= room) return [line];
  if (line.includes('\n')) return line.split('\n').flatMap((l) => hardCut(l, room));
  const plain = line.replace(/<[^>]*>/g, '');
  const out: string[] = [];
  let rest = plain;
  while (rest.length > room) {
    let cut = room;
    const amp = rest.lastIndexOf('&', cut - 1);
    if (amp >= 0 && amp > cut - 7 && !rest.slice(amp, cut).includes(';')) cut = amp;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest) out.push(rest);
  return out;
}
