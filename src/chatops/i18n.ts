import type { RunStatus } from '../monitor/run';

/** Languages the bot speaks (BOT_LOCALE). */
export type Locale = 'en' | 'he';

/**
 * Every text the bot sends. Functions receive HTML-safe fragments (already escaped or built with the
 * helpers in html.ts) and return HTML.
 */
export interface Messages {
  refusal: (chatId: string) => string;
  usageTitle: string;
  usageLines: [command: string, meaning: string][];
  categories: string;
  unknownArg: (arg: string) => string;
  activeTitle: string;
  noActive: string;
  failedTitle: string;
  noFailures: string;
  jobsTitle: string;
  logs: string;
  enabled: string;
  disabled: string;
  dynamic: string;
  runningNow: string;
  last: string;
  neverRan: string;
  status: Record<RunStatus, string>;
  category: string;
  type: string;
  schedule: string;
  every: (seconds: number) => string;
  state: string;
  triggerable: string;
  yes: string;
  no: string;
  latestRuns: string;
  noRuns: string;
  runNow: string;
  retry: string;
  confirmYes: string;
  cancel: string;
  confirmRun: (job: string) => string;
  confirmRetry: (job: string, run: string) => string;
  started: (job: string, run: string) => string;
  retried: (job: string, run: string) => string;
  cancelled: string;
  expired: string;
  refused: {
    job_disabled: (job: string) => string;
    job_already_running: (job: string, run: string) => string;
    job_not_triggerable: (job: string) => string;
    job_not_found: (job: string) => string;
    run_not_found: (run: string) => string;
    run_not_failed: (run: string, status: string) => string;
    other: (message: string) => string;
  };
  moreInDashboard: string;
  moreNotShown: string;
}

const en: Messages = {
  refusal: (chatId) =>
    `🙏 Sorry, this bot only answers its administrators. If you should have access, ask an admin to add this chat (id ${chatId}) to TELEGRAM_ADMIN_IDS.`,
  usageTitle: '🤖 <b>/jobs</b> commands:',
  usageLines: [
    ['/jobs', 'every job by category'],
    ['/jobs active', 'runs in progress now'],
    ['/jobs failed', 'the 10 latest failures'],
    ['/jobs &lt;job_id&gt;', 'a job and its 5 latest runs'],
    ['/jobs &lt;category&gt;', 'the jobs of a category'],
  ],
  categories: 'Categories',
  unknownArg: (arg) => `❓ No job or category ${arg}.`,
  activeTitle: '⚡ Active runs:',
  noActive: '⚡ No active runs right now.',
  failedTitle: '❌ Latest failures:',
  noFailures: '✅ No failed runs in the history.',
  jobsTitle: '📋 Jobs by category:',
  logs: '📋 Logs',
  enabled: 'enabled',
  disabled: 'disabled',
  dynamic: 'dynamic',
  runningNow: 'running now',
  last: 'last',
  neverRan: 'never ran',
  status: {
    pending: 'pending',
    running: 'running',
    completed: 'completed',
    failed: 'failed',
    skipped: 'skipped',
  },
  category: 'Category',
  type: 'Type',
  schedule: 'Schedule',
  every: (s) => `every ${s} s`,
  state: 'State',
  triggerable: 'Can run by hand',
  yes: 'yes',
  no: 'no',
  latestRuns: 'Latest runs:',
  noRuns: 'No runs yet.',
  runNow: '▶️ Run now',
  retry: '🔁 Retry',
  confirmYes: '✅ Yes, go',
  cancel: '✖️ Cancel',
  confirmRun: (job) => `▶️ Run ${job} now?`,
  confirmRetry: (job, run) => `🔁 Retry ${job} (run ${run})?`,
  started: (job, run) => `✅ ${job} started: run ${run}`,
  retried: (job, run) => `✅ ${job} retried: new run ${run}`,
  cancelled: '✖️ Cancelled.',
  expired: '⌛ This confirmation has expired. Open the job again to run it.',
  refused: {
    job_disabled: (job) => `⛔ Not started: ${job} is disabled.`,
    job_already_running: (job, run) => `⏳ Not started: ${job} is already running (run ${run}).`,
    job_not_triggerable: (job) => `🚫 Not started: ${job} is a dynamic job and can't be run by hand.`,
    job_not_found: (job) => `❓ No job ${job}.`,
    run_not_found: (run) => `❓ No run ${run} (it may be older than the 7 days kept).`,
    run_not_failed: (run, status) => `🚫 Run ${run} is ${status}; only failed runs can be retried.`,
    other: (message) => `⚠️ That did not work: ${message}`,
  },
  moreInDashboard: '… more in the dashboard',
  moreNotShown: '… more not shown',
};

const he: Messages = {
  refusal: (chatId) =>
    `🙏 מצטערים, הבוט הזה עונה רק למנהלים שלו. אם צריכה להיות לך גישה, בקשו ממנהל להוסיף את הצ'אט הזה (מזהה ${chatId}) ל-TELEGRAM_ADMIN_IDS.`,
  usageTitle: '🤖 פקודות <b>/jobs</b>:',
  usageLines: [
    ['/jobs', 'כל ה-Jobs לפי קטגוריה'],
    ['/jobs active', 'הרצות פעילות כרגע'],
    ['/jobs failed', '10 הכשלים האחרונים'],
    ['/jobs &lt;job_id&gt;', 'פרטי Job ו-5 ההרצות האחרונות'],
    ['/jobs &lt;category&gt;', 'ה-Jobs בקטגוריה'],
  ],
  categories: 'קטגוריות',
  unknownArg: (arg) => `❓ אין Job או קטגוריה בשם ${arg}.`,
  activeTitle: '⚡ הרצות פעילות:',
  noActive: '⚡ אין הרצות פעילות כרגע.',
  failedTitle: '❌ כשלים אחרונים:',
  noFailures: '✅ אין הרצות שנכשלו בהיסטוריה.',
  jobsTitle: '📋 Jobs לפי קטגוריה:',
  logs: '📋 לוגים',
  enabled: 'מופעל',
  disabled: 'מושבת',
  dynamic: 'דינמי',
  runningNow: 'רץ כרגע',
  last: 'אחרון',
  neverRan: 'עוד לא רץ',
  status: { pending: 'ממתין', running: 'רץ', completed: 'הושלם', failed: 'נכשל', skipped: 'דולג' },
  category: 'קטגוריה',
  type: 'סוג',
  schedule: 'תזמון',
  every: (s) => `כל ${s} שניות`,
  state: 'מצב',
  triggerable: 'הפעלה ידנית',
  yes: 'כן',
  no: 'לא',
  latestRuns: 'הרצות אחרונות:',
  noRuns: 'עוד אין הרצות.',
  runNow: '▶️ הרץ עכשיו',
  retry: '🔁 נסה שוב',
  confirmYes: '✅ כן, להריץ',
  cancel: '✖️ ביטול',
  confirmRun: (job) => `▶️ להריץ את ${job} עכשיו?`,
  confirmRetry: (job, run) => `🔁 להריץ שוב את ${job} (הרצה ${run})?`,
  started: (job, run) => `✅ ${job} הופעל: הרצה ${run}`,
  retried: (job, run) => `✅ ${job} הופעל מחדש: הרצה חדשה ${run}`,
  cancelled: '✖️ בוטל.',
  expired: '⌛ פג תוקף האישור. פתחו את ה-Job מחדש כדי להריץ אותו.',
  refused: {
    job_disabled: (job) => `⛔ לא הופעל: ${job} מושבת.`,
    job_already_running: (job, run) => `⏳ לא הופעל: ${job} כבר רץ (הרצה ${run}).`,
    job_not_triggerable: (job) => `🚫 לא הופעל: ${job} הוא Job דינמי ואי אפשר להפעיל אותו ידנית.`,
    job_not_found: (job) => `❓ אין Job בשם ${job}.`,
    run_not_found: (run) => `❓ אין הרצה ${run} (אולי היא ישנה מ-7 הימים שנשמרים).`,
    run_not_failed: (run, status) => `🚫 הרצה ${run} במצב ${status}; אפשר להריץ שוב רק הרצות שנכשלו.`,
    other: (message) => `⚠️ הפעולה לא הצליחה: ${message}`,
  },
  moreInDashboard: '… עוד בדשבורד',
  moreNotShown: '… עוד לא מוצג',
};

/** The message catalogue of a locale (English unless `he`). */
export function messagesFor(locale: Locale): Messages {
  return locale === 'he' ? he : en;
}
