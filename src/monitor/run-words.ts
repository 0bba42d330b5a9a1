import type { RunStatus, RunTrigger } from './run';

/** Languages of the run words (LOCALE). */
export type RunWordsLocale = 'en' | 'he';

/**
 * What a run's status and trigger are called, per language: the one table the bot (src/chatops/i18n.ts) and
 * the dashboard (the server renders it into the Hebrew pages for i18n-he.js, src/dashboard/pages.ts) both
 * use, so a run is "הושלם" in both. Change a word here, not in either surface.
 */
export const RUN_WORDS: Record<
  RunWordsLocale,
  { status: Record<RunStatus, string>; trigger: Record<RunTrigger, string> }
> = {
  en: {
    status: {
      pending: 'pending',
      running: 'running',
      completed: 'completed',
      failed: 'failed',
      skipped: 'skipped',
      cancelled: 'cancelled',
    },
    trigger: { scheduled: 'scheduled', manual: 'manual', api: 'api' },
  },
  he: {
    status: {
      pending: 'ממתין',
      running: 'רץ',
      completed: 'הושלם',
      failed: 'נכשל',
      skipped: 'דולג',
      cancelled: 'בוטל',
    },
    trigger: { scheduled: 'מתוזמן', manual: 'ידני', api: 'מהאפליקציה' },
  },
};
