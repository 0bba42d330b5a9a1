/**
 * Times as runs store them: canonical ISO-8601 strings (`2026-12-01T10:20:30.456Z`), converted to and from
 * epoch milliseconds on every run write. `Date#toISOString` and `Date.parse` cost about a microsecond each,
 * and a run write converts half a dozen times, so both directions keep the formatted second of the last
 * conversion: times written together fall in the same second, and only the milliseconds change.
 */

/** The seconds formatted last (a run's times span a few: enqueued, started, ended) and their prefixes. */
const SLOTS = 8;
const seconds = new Array<number>(SLOTS).fill(Number.NaN);
/** `YYYY-MM-DDTHH:MM:SS.` of `seconds[i]`. */
const prefixes = new Array<string>(SLOTS).fill('\u0000');

function prefixOf(second: number): string {
  const slot = second & (SLOTS - 1);
  if (seconds[slot] !== second) {
    prefixes[slot] = new Date(second * 1000).toISOString().slice(0, 20);
    seconds[slot] = second;
  }
  return prefixes[slot];
}

/** The canonical ISO string of an epoch-ms time (years 0–9999; anything else through `toISOString`). */
export function isoFromMs(ms: number): string {
  if (!(ms >= 0 && ms < 253402300800000) || ms % 1 !== 0) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  const milli = ms - second * 1000;
  return `${prefixOf(second)}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** Like {@link isoFromMs}, null for null, undefined and 0 (a BullMQ timestamp that is not set). */
export function isoOrNull(ms: number | null | undefined): string | null {
  return ms ? isoFromMs(ms) : null;
}

/**
 * Epoch ms of a canonical ISO string (exactly what {@link isoFromMs} or `toISOString` writes for years
 * 0–9999), NaN for anything else: a string that merely parses (another format, an offset, a day that rolls
 * over) is not canonical, and callers keep such text as it is.
 */
export function msFromCanonicalIso(s: string): number {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */ || s.charCodeAt(19) !== 46 /* . */)
    return Number.NaN;
  const d0 = s.charCodeAt(20) - 48;
  const d1 = s.charCodeAt(21) - 48;
  const d2 = s.charCodeAt(22) - 48;
  if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return Number.NaN;
  const milli = d0 * 100 + d1 * 10 + d2;
  for (let slot = 0; slot < SLOTS; slot++) {
    if (s.startsWith(prefixes[slot])) return seconds[slot] * 1000 + milli;
  }
  const ms = Date.parse(s);
  if (!Number.isFinite(ms) || ms < 0) return Number.NaN;
  const second = Math.floor(ms / 1000);
  // Canonical only if formatting it again gives the same text (rejects rolled-over days and the like).
  return s.startsWith(prefixOf(second)) && ms - second * 1000 === milli ? ms : Number.NaN;
}
