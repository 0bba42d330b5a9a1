import type { JobDefinition } from './registry';
import type { StuckReason } from './run';

/**
 * The words schedules, durations and stuck reasons are shown in, per LOCALE: the one source for ChatOps, the
 * alerts and the API's `schedule_text` (which the dashboard shows). The dashboard's own Hebrew file
 * (src/dashboard/public/i18n-he.js) repeats the units and the stuck reasons; test/unit/locale-he.test.ts keeps
 * the two in step.
 */

/** Languages of the words (LOCALE). */
export type WordsLocale = 'en' | 'he';

type Unit = 'd' | 'h' | 'min' | 's';
/**
 * Unit names after a number. Hebrew's are abbreviations (no plural) except the day, a whole word: 1 יום, n
 * ימים.
 */
const UNIT_NAMES: Record<WordsLocale, Record<Unit, string>> = {
  en: { d: 'd', h: 'h', min: 'min', s: 's' },
  he: { d: 'ימים', h: 'שע׳', min: 'דק׳', s: 'שנ׳' },
};
/** The unit after `n` in a locale ("1 יום", "7 ימים"). */
export function unitName(n: number, unit: Unit, locale: WordsLocale = 'en'): string {
  if (locale === 'he' && unit === 'd' && n === 1) return 'יום';
  return UNIT_NAMES[locale][unit];
}
const UNITS: [number, 'd' | 'h' | 'min' | 's'][] = [
  [86_400, 'd'],
  [3600, 'h'],
  [60, 'min'],
  [1, 's'],
];
const WORDS: Record<
  WordsLocale,
  {
    every: (n: string, unit: string) => string;
    hourly: (mm: string) => string;
    daily: (at: string) => string;
    weekly: (day: string, at: string) => string;
    days: string[];
    once: string;
    onDemand: string;
  }
> = {
  en: {
    every: (n, u) => `every ${n} ${u}`,
    hourly: (mm) => `hourly at :${mm}`,
    daily: (at) => `daily at ${at}`,
    weekly: (d, at) => `${d} at ${at}`,
    days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
    once: 'once',
    onDemand: 'on demand',
  },
  he: {
    every: (n, u) => `כל ${n} ${u}`,
    hourly: (mm) => `כל שעה בדקה ${mm}`,
    daily: (at) => `כל יום ב-${at}`,
    weekly: (d, at) => `${d} ב-${at}`,
    days: ['יום א׳', 'יום ב׳', 'יום ג׳', 'יום ד׳', 'יום ה׳', 'יום ו׳', 'שבת', 'יום א׳'],
    once: 'פעם אחת',
    onDemand: 'לפי דרישה',
  },
};

/** "every 1 h", "every 90 min" (mixed units stay in the smaller one), "every 1.5 s"; Hebrew with `he`. */
export function describeInterval(seconds: number, locale: WordsLocale = 'en'): string {
  const w = WORDS[locale];
  for (const [size, unit] of UNITS) {
    if (seconds >= size && seconds % size === 0)
      return w.every(String(seconds / size), unitName(seconds / size, unit, locale));
  }
  return w.every(String(Math.round(seconds * 1000) / 1000), UNIT_NAMES[locale].s);
}

/** A duration in ms as the dashboard and ChatOps show it: "850 ms", "5.0 s", "12 s", "3 min 5 s". */
export function describeDuration(ms: number, locale: WordsLocale = 'en'): string {
  const u =
    locale === 'he'
      ? { ms: 'מ״ש', s: 'שנ׳', min: 'דק׳', h: 'שע׳' }
      : { ms: 'ms', s: 's', min: 'min', h: 'h' };
  if (ms < 1000) return `${Math.round(ms)} ${u.ms}`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} ${u.s}`;
  const m = Math.floor(ms / 60_000);
  return m < 60
    ? `${m} ${u.min} ${Math.round((ms % 60_000) / 1000)} ${u.s}`
    : `${Math.floor(m / 60)} ${u.h} ${m % 60} ${u.min}`;
}

const pad = (s: string) => s.padStart(2, '0');

/** Common cron shapes in words ("daily at 03:17", "hourly at :05", "every 15 min"); others as `cron <expr>`. */
export function describeCron(expr: string, locale: WordsLocale = 'en'): string {
  const w = WORDS[locale];
  const f = expr.trim().split(/\s+/);
  if (f.length !== 5) return `cron ${expr}`;
  const [min, hour, dom, mon, dow] = f;
  const num = (s: string) => /^\d+$/.test(s);
  if (dom === '*' && mon === '*') {
    const step = /^\*\/(\d+)$/.exec(min);
    if (step && hour === '*' && dow === '*') return w.every(step[1], UNIT_NAMES[locale].min);
    if (num(min) && hour === '*' && dow === '*') return w.hourly(pad(min));
    if (num(min) && num(hour)) {
      const at = `${pad(hour)}:${pad(min)}`;
      if (dow === '*') return w.daily(at);
      if (num(dow) && Number(dow) <= 7) return w.weekly(w.days[Number(dow)], at);
    }
  }
  return `cron ${expr}`;
}

/** A job's schedule in words: "every 1 h", "daily at 03:17", "once", "on demand". */
export function describeSchedule(
  def: Pick<JobDefinition, 'job_type' | 'interval_seconds' | 'cron'>,
  locale: WordsLocale = 'en',
): string {
  if (def.job_type === 'repeating' && def.interval_seconds)
    return describeInterval(def.interval_seconds, locale);
  if (def.job_type === 'cron' && def.cron) return describeCron(def.cron, locale);
  if (def.job_type === 'once') return WORDS[locale].once;
  return WORDS[locale].onDemand;
}

/** Hebrew words of the stuck reasons; in English the reason is shown as its code (`running_too_long`). */
const STUCK_REASON_HE: Record<StuckReason, string> = {
  running_too_long: 'רצה יותר מדי זמן',
  not_picked_up: 'אף עובד לא לקח אותה',
  no_workers: 'אין עובד חי',
};

/**
 * Why a run is stuck as a locale shows it: in Hebrew its words ("רצה יותר מדי זמן"), in English its code
 * (`running_too_long`, the API's value); an unknown reason is returned as it is.
 */
export function describeStuckReason(reason: string, locale: WordsLocale = 'en'): string {
  if (locale !== 'he') return reason;
  return Object.hasOwn(STUCK_REASON_HE, reason) ? STUCK_REASON_HE[reason as StuckReason] : reason;
}
