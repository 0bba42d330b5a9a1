/**
 * Times as runs store them: canonical ISO-8601 strings (`2026-12-01T10:20:30.456Z`), converted to and from
 * epoch milliseconds on every run write. `Date#toISOString` and `Date.parse` cost about a microsecond each,
 * and a run write converts half a dozen times: formatting keeps the formatted seconds of the last few
 * conversions (times written together fall in a few seconds, only the milliseconds change), parsing reads
 * the digits.
 */

/** The seconds formatted last (a run's times span a few: enqueued, started, ended) and their prefixes. */
const SLOTS = 8;
const seconds = new Array<number>(SLOTS).fill(Number.NaN);
/** `YYYY-MM-DDTHH:MM:SS.` of `seconds[i]`. */
const prefixes = new Array<string>(SLOTS).fill('\u0000');
/** `000Z` … `999Z`. */
const MILLIS_Z = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}Z`);

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
  return prefixOf(second) + MILLIS_Z[ms - second * 1000];
}

/** Like {@link isoFromMs}, null for null, undefined and 0 (a BullMQ timestamp that is not set). */
export function isoOrNull(ms: number | null | undefined): string | null {
  return ms ? isoFromMs(ms) : null;
}

/** Two decimal digits at `i` (NaN unless both are digits). */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : Number.NaN;
}

/** Days from 1970-01-01 to a civil date (proleptic Gregorian; Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms of a canonical ISO string (exactly what {@link isoFromMs} or `toISOString` writes for years
 * 1970–9999), NaN for anything else: a string that merely parses (another format, an offset, a day that
 * rolls over, a time before the epoch) is not canonical, and callers keep such text as it is. Read digit by
 * digit: no Date object, no cache.
 */
export function msFromCanonicalIso(s: string): number {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */) return Number.NaN;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84) return Number.NaN; // - - T
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46) return Number.NaN; // : : .
  const y = digits2(s, 0) * 100 + digits2(s, 2);
  const mo = digits2(s, 5);
  const d = digits2(s, 8);
  const h = digits2(s, 11);
  const mi = digits2(s, 14);
  const sec = digits2(s, 17);
  const m0 = s.charCodeAt(20) - 48;
  const ms3 = digits2(s, 21);
  if (!(y >= 1970) || !(mo >= 1 && mo <= 12) || !(h <= 23) || !(mi <= 59) || !(sec <= 59)) return Number.NaN;
  if (!(m0 >= 0 && m0 <= 9) || Number.isNaN(ms3)) return Number.NaN;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (!(d >= 1 && d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]))) return Number.NaN;
  return ((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + m0 * 100 + ms3;
}

/**
 * `ms.toString(radix)` for epoch-ms times, as the run store writes them several times per run. For a number
 * past the small-integer range that takes 100–150 ns; here the text of the high part (all but the low
 * `lowDigits` digits: the same for times within ~28 minutes in base 36, 1,000 s in decimal) is kept from the
 * last call and only the low part, a small integer, is formatted.
 */
function cachedHigh(radix: number, lowDigits: number): (ms: number) => string {
  const LOW = radix ** lowDigits;
  const ZEROS = '0'.repeat(lowDigits);
  let high = Number.NaN;
  let highText = '';
  return (ms) => {
    if (!(ms >= LOW && ms <= Number.MAX_SAFE_INTEGER) || ms % 1 !== 0) return ms.toString(radix);
    const h = Math.floor(ms / LOW);
    if (h !== high) {
      high = h;
      highText = h.toString(radix);
    }
    const low = (ms - h * LOW).toString(radix);
    return highText + ZEROS.slice(low.length) + low;
  };
}
/** `ms.toString(36)`. */
export const base36Ms = cachedHigh(36, 4);
/** `String(ms)`. */
export const decimalMs = cachedHigh(10, 6);
