import type { RunStatus } from '../monitor/run';
import { RUN_WORDS } from '../monitor/run-words';

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
  /** #12: a run the stuck monitor flagged (shown with ⚠️). */
  stuck: string;
  /** #12: a paused job (the scheduler makes no runs, Run now is refused). */
  paused: string;
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
    /** The run store or the queues can't be reached (StoreUnavailableError): nothing was done. */
    store_unavailable: string;
    /** #12: a failed run is retried once. */
    run_already_retried: (run: string, retry: string) => string;
    other: (message: string) => string;
  };
  moreInDashboard: string;
  moreNotShown: string;
  /** #12 operator actions: stop (cancel) a run, pause/resume a job. */
  ops: {
    stop: string;
    pause: string;
    resume: string;
    confirmStop: (job: string, run: string) => string;
    confirmPause: (job: string) => string;
    confirmResume: (job: string) => string;
    stopped: (job: string, run: string) => string;
    stopping: (job: string, run: string) => string;
    paused: (job: string) => string;
    resumed: (job: string) => string;
    run_not_active: (run: string, status: string) => string;
    job_paused: (job: string) => string;
    forbidden_role: string;
    /** DASHBOARD_READ_ONLY caps the bot at viewer too. */
    read_only: string;
  };
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
    ['/jobs find &lt;text&gt;', 'runs by run id, user id or search key (e.g. a call_sid)'],
    ['/jobs workers', 'live workers, the runs they are on, queue depth'],
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
  stuck: 'stuck',
  paused: 'paused',
  status: RUN_WORDS.en.status,
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
    store_unavailable: '⏳ The job store is unreachable right now, nothing was done. Try again in a minute.',
    run_already_retried: (run, retry) => `🔁 Run ${run} was already retried: run ${retry}.`,
    other: (message) => `⚠️ That did not work: ${message}`,
  },
  moreInDashboard: '… more in the dashboard',
  moreNotShown: '… more not shown',
  ops: {
    stop: '⛔ Stop',
    pause: '⏸️ Pause',
    resume: '▶️ Resume',
    confirmStop: (job, run) => `⛔ Stop ${job} (run ${run})?`,
    confirmPause: (job) =>
      `⏸️ Pause ${job}? No new runs of it (schedule, Run now, retries, enqueues) until resumed.`,
    confirmResume: (job) => `▶️ Resume ${job}? Its schedule starts again.`,
    stopped: (job, run) => `⛔ ${job}: run ${run} cancelled.`,
    stopping: (job, run) => `⛔ ${job}: cancelling run ${run}…`,
    paused: (job) => `⏸️ ${job} paused.`,
    resumed: (job) => `▶️ ${job} resumed.`,
    run_not_active: (run, status) =>
      `🚫 Run ${run} is ${status}; only pending or running runs can be stopped.`,
    job_paused: (job) => `⏸️ Not started: ${job} is paused.`,
    forbidden_role: '🔒 Only the bot owners (TELEGRAM_OWNER_IDS) may pause or resume jobs.',
    read_only:
      '🔒 This deployment is read-only (DASHBOARD_READ_ONLY): no runs, retries, stops or pauses from here.',
  },
};

const he: Messages = {
  refusal: (chatId) =>
    `🙏 מצטערים, הבוט הזה עונה רק למנהלים שלו. אם צריכה להיות לך גישה, בקשו ממנהל להוסיף את הצ'אט הזה (מזהה ${chatId}) ל-TELEGRAM_ADMIN_IDS.`,
  usageTitle: '🤖 פקודות <b>/jobs</b>:',
  usageLines: [
    ['/jobs', 'כל המשימות לפי קטגוריה'],
    ['/jobs active', 'הרצות פעילות כרגע'],
    ['/jobs failed', '10 הכשלים האחרונים'],
    ['/jobs &lt;job_id&gt;', 'פרטי משימה ו-5 ההרצות האחרונות שלה'],
    ['/jobs &lt;category&gt;', 'המשימות בקטגוריה'],
    ['/jobs find &lt;text&gt;', 'הרצות לפי מזהה הרצה, מזהה משתמש או מפתח חיפוש (למשל call_sid)'],
    ['/jobs workers', 'עובדים פעילים, ההרצות שלהם ועומק התורים'],
  ],
  categories: 'קטגוריות',
  unknownArg: (arg) => `❓ אין משימה או קטגוריה בשם ${arg}.`,
  activeTitle: '⚡ הרצות פעילות:',
  noActive: '⚡ אין הרצות פעילות כרגע.',
  failedTitle: '❌ כשלים אחרונים:',
  noFailures: '✅ אין הרצות שנכשלו בהיסטוריה.',
  jobsTitle: '📋 משימות לפי קטגוריה:',
  logs: '📋 לוגים',
  enabled: 'מופעל',
  disabled: 'מושבת',
  dynamic: 'דינמי',
  runningNow: 'רץ כרגע',
  last: 'אחרון',
  neverRan: 'עוד לא רץ',
  stuck: 'תקוע',
  paused: 'מושהה',
  status: RUN_WORDS.he.status,
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
  expired: '⌛ פג תוקף האישור. פתחו את המשימה מחדש כדי להריץ אותה.',
  refused: {
    job_disabled: (job) => `⛔ לא הופעל: ${job} מושבת.`,
    job_already_running: (job, run) => `⏳ לא הופעל: ${job} כבר רץ (הרצה ${run}).`,
    job_not_triggerable: (job) => `🚫 לא הופעל: ${job} היא משימה דינמית ואי אפשר להפעיל אותה ידנית.`,
    job_not_found: (job) => `❓ אין משימה בשם ${job}.`,
    run_not_found: (run) => `❓ אין הרצה ${run} (אולי היא ישנה מ-7 הימים שנשמרים).`,
    run_not_failed: (run, status) => `🚫 הרצה ${run} במצב ${status}; אפשר להריץ שוב רק הרצות שנכשלו.`,
    store_unavailable: '⏳ מאגר ההרצות לא זמין כרגע, לא בוצע דבר. נסו שוב בעוד דקה.',
    run_already_retried: (run, retry) => `🔁 הרצה ${run} כבר הורצה מחדש: הרצה ${retry}.`,
    other: (message) => `⚠️ הפעולה לא הצליחה: ${message}`,
  },
  moreInDashboard: '… עוד בדשבורד',
  moreNotShown: '… עוד לא מוצג',
  ops: {
    stop: '⛔ עצור',
    pause: '⏸️ השהה',
    resume: '▶️ המשך',
    confirmStop: (job, run) => `⛔ לעצור את ${job} (הרצה ${run})?`,
    confirmPause: (job) =>
      `⏸️ להשהות את ${job}? לא יהיו הרצות חדשות שלו (תזמון, הרצה ידנית, הרצות חוזרות) עד שימשיכו.`,
    confirmResume: (job) => `▶️ להמשיך את ${job}? התזמון שלו יחזור לפעול.`,
    stopped: (job, run) => `⛔ ${job}: הרצה ${run} בוטלה.`,
    stopping: (job, run) => `⛔ ${job}: מבטל את הרצה ${run}…`,
    paused: (job) => `⏸️ ${job} הושהה.`,
    resumed: (job) => `▶️ ${job} ממשיך.`,
    run_not_active: (run, status) => `🚫 הרצה ${run} במצב ${status}; אפשר לעצור רק הרצות שממתינות או רצות.`,
    job_paused: (job) => `⏸️ לא הופעל: ${job} מושהה.`,
    forbidden_role: '🔒 רק בעלי הבוט (TELEGRAM_OWNER_IDS) יכולים להשהות או להמשיך משימות.',
    read_only:
      '🔒 ההתקנה הזו לקריאה בלבד (DASHBOARD_READ_ONLY): אין מכאן הרצות, הרצות חוזרות, עצירות או השהיות.',
  },
};

/** The message catalogue of a locale (English unless `he`). */
export function messagesFor(locale: Locale): Messages {
  return locale === 'he' ? he : en;
}

/** Words for values the run model keeps in English (job types, triggers), per locale. */
const WORDS: Record<
  Locale,
  { jobType: Record<string, string>; trigger: Record<string, string>; nextRun: string; next: string }
> = {
  en: {
    nextRun: 'Next run',
    next: 'next',
    jobType: { repeating: 'repeating', cron: 'cron', once: 'once', dynamic: 'dynamic' },
    trigger: RUN_WORDS.en.trigger,
  },
  he: {
    nextRun: 'הרצה הבאה',
    next: 'הבאה',
    jobType: { repeating: 'חוזר', cron: 'תזמון cron', once: 'חד-פעמי', dynamic: 'דינמי' },
    trigger: RUN_WORDS.he.trigger,
  },
};

/** Job type and trigger words of a locale (English by default). */
export function wordsFor(locale: Locale | undefined) {
  return WORDS[locale ?? 'en'];
}
