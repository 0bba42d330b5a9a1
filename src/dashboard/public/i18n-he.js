// Hebrew for the dashboard pages (LOCALE=he; the server sets <html lang="he" dir="rtl"> and loads this file
// before dashboard.js). It translates the pages' own words where they appear, including what dashboard.js
// renders later (a MutationObserver), and leaves data alone: ids, names, errors, logs, payloads and code.
// Schedules come from the API in Hebrew already (`schedule_text`, src/monitor/schedule-words.ts, the words ChatOps
// uses); the units and the stuck reasons here are the same words (test/unit/locale-he.test.ts keeps them in step).
(() => {
  if (document.documentElement.lang !== 'he') return;
  // Run statuses and triggers: the bot's words, rendered into the page by the server (src/monitor/run-words.ts).
  const SHARED = JSON.parse(document.getElementById('jm-words')?.textContent || '{}');
  const WORDS = {
    ...SHARED,
    Active: 'פעילות',
    Jobs: 'משימות',
    History: 'היסטוריה',
    Workers: 'עובדים',
    Trends: 'מגמות',
    // Operator actions (#12)
    Audit: 'יומן פעולות',
    Stuck: 'תקועות',
    stuck: 'תקועה',
    '⚠ stuck': '⚠ תקועה',
    paused: 'מושהית',
    reconnecting: 'מתחבר מחדש',
    'No actions yet.': 'עוד אין פעולות.',
    'Retry all matching': 'נסה שוב את כל המתאימות',
    'Cancel all matching': 'בטל את כל המתאימות',
    Cancel: 'ביטול',
    Pause: 'השהיה',
    Resume: 'חידוש',
    Confirm: 'אישור',
    Back: 'חזרה',
    Refresh: 'רענון',
    When: 'מתי',
    Who: 'מי',
    Role: 'תפקיד',
    Action: 'פעולה',
    Subject: 'נושא',
    Outcome: 'תוצאה',
    Detail: 'פרטים',
    // Audit actions (the API's action names)
    trigger: 'הפעלה',
    retry: 'הרצה חוזרת',
    cancel: 'ביטול',
    pause: 'השהיה',
    resume: 'חידוש',
    bulk: 'פעולה קבוצתית',
    login: 'כניסה',
    logout_all: 'התנתקות מכל מקום',
    // The action of audit entries written before a refused attempt named the action it attempted.
    refused: 'נדחה',
    viewer: 'צופה',
    operator: 'מפעיל',
    admin: 'מנהל',
    'Bull Board': 'Bull Board',
    connecting: 'מתחבר',
    live: 'חי',
    offline: 'מנותק',
    'Log out': 'התנתקות',
    'Log out everywhere': 'התנתקות מכל מקום',
    'Active runs': 'הרצות פעילות',
    'Nothing is running.': 'שום דבר לא רץ.',
    'success rate and durations: last 24 h': 'אחוז הצלחה ומשכים: 24 השעות האחרונות',
    'Loading…': 'טוען…',
    Job: 'משימה',
    Status: 'מצב',
    Trigger: 'מקור',
    User: 'משתמש',
    Search: 'חיפוש',
    From: 'מתאריך',
    To: 'עד תאריך',
    all: 'הכול',
    stalled: 'נתקע',
    Apply: 'סינון',
    Clear: 'ניקוי',
    Created: 'נוצר',
    Duration: 'משך',
    Items: 'פריטים',
    Run: 'הרצה',
    '← Newer': 'חדשות יותר →',
    'Older →': '← ישנות יותר',
    'live heartbeats; queue depth beside': 'דופק חי; עומק התורים לצד',
    'Pick a job.': 'בחרו משימה.',
    'Admin token': 'טוקן מנהל',
    'Sign in': 'כניסה',
    'read-only': 'קריאה בלבד',
    Type: 'סוג',
    State: 'מצב',
    Schedule: 'תזמון',
    'Last run': 'הרצה אחרונה',
    'Next run': 'הרצה הבאה',
    'Success 24 h': 'הצלחה 24 שע׳',
    'Recent durations': 'משכים אחרונים',
    static: 'קבועה',
    dynamic: 'דינמית',
    enabled: 'מופעלת',
    disabled: 'מושבתת',
    never: 'אף פעם',
    'Run now': 'הרץ עכשיו',
    Retry: 'נסה שוב',
    'No runs match.': 'אין הרצות מתאימות.',
    'No jobs registered.': 'אין משימות רשומות.',
    Started: 'התחיל',
    Ended: 'הסתיים',
    Progress: 'התקדמות',
    Attempts: 'ניסיונות',
    Worker: 'עובד',
    Error: 'שגיאה',
    error: 'שגיאה',
    Result: 'תוצאה',
    Payload: 'נתוני קלט',
    Stack: 'מחסנית',
    Time: 'זמן',
    Level: 'רמה',
    Message: 'הודעה',
    info: 'מידע',
    warn: 'אזהרה',
    debug: 'דיבאג',
    'No log lines.': 'אין שורות לוג.',
    idle: 'פנוי',
    'No worker is alive.': 'אין עובד פעיל.',
    waiting: 'ממתינות',
    delayed: 'מושהות',
    active: 'פעילות',
    Window: 'חלון',
    Runs: 'הרצות',
    'Failure rate': 'שיעור כישלון',
    'Retry of': 'ניסיון חוזר של',
    'Retried by': 'נוסה שוב ב-',
    'Not available: the queue job was removed (retention).': 'לא זמין: המשימה הוסרה מהתור (שמירה).',
    'on demand': 'לפי דרישה',
    once: 'פעם אחת',
    'No runs yet.': 'עוד אין הרצות.',
    'user id': 'מזהה משתמש',
    'run id, user id, call_sid…': 'מזהה הרצה, מזהה משתמש, call_sid…',
    // Tooltips and labels (title / aria-label)
    'Live updates': 'עדכונים חיים',
    'End every dashboard session, in every browser': 'סיום כל החיבורים ללוח, בכל דפדפן',
    'inclusive: runs created up to the end of this day': 'כולל: הרצות שנוצרו עד סוף היום הזה',
    Close: 'סגירה',
  };
  // Abbreviations take no plural; the day is a whole word: 1 יום, 7 ימים.
  const UNIT = { ms: 'מ״ש', s: 'שנ׳', min: 'דק׳', h: 'שע׳', d: 'ימים' };
  const unit = (n, u) => (u === 'd' && Number(n) === 1 ? 'יום' : UNIT[u]);
  const NUM_UNIT = /(\d+(?:\.\d+)?) (ms|s|min|h|d)\b/g;
  const units = (t) => t.replace(NUM_UNIT, (_, n, u) => `${n} ${unit(n, u)}`);
  // Why the stuck monitor flagged a run (the API's stuck_reason codes); src/monitor/schedule-words.ts has the same.
  const REASONS = {
    running_too_long: 'רצה יותר מדי זמן',
    not_picked_up: 'אף עובד לא לקח אותה',
    no_workers: 'אין עובד חי',
  };
  // Most specific first: "seen 3 s ago" is not "(seen 3 s) ago".
  const PATTERNS = [
    [/^seen (.+) ago$/, (m) => `נראה לפני ${units(m[1])}`],
    [/^up (.+)$/, (m) => `פעיל ${units(m[1])}`],
    [/^(.+) ago$/, (m) => `לפני ${units(m[1])}`],
    [/^in (\d.+)$/, (m) => `בעוד ${units(m[1])}`],
    [/^page (\d+)$/, (m) => `עמוד ${m[1]}`],
    [/^(\d+) runs$/, (m) => `${m[1]} הרצות`],
    [/^Attempts \((\d+)\)$/, (m) => `ניסיונות (${m[1]})`],
    [/^Logs \((\d+), last 50 kept\)$/, (m) => `לוגים (${m[1]}, נשמרות 50 האחרונות)`],
    [/^Sign in with the admin token \($/, () => 'כניסה עם טוקן המנהל ('],
    [/^\) or a named token \($/, () => ') או עם טוקן בעל שם ('],
    [/^(\d+)\/(\d+) busy$/, (m) => `${m[1]}/${m[2]} תפוסים`],
    [/^p50 (.+) · p95 (.+)$/, (m) => `p50 ${units(m[1])} · p95 ${units(m[2])}`],
    [/^p95 (.+)$/, (m) => `p95 ${units(m[1])}`],
    [/^[\d.]+ (ms|s|min|h|d)( [\d.]+ (ms|s|min|h|d))?$/, (m) => units(m[0])],
  ];
  // Sentences dashboard.js builds around data (toasts, confirmations, tooltips), by its message keys; and what
  // the API's refusals mean, by error code (the API's own message stays English).
  const MESSAGES = {
    started: '{job}: הרצה {run} התחילה',
    refused: '{job}: {why}',
    retry_confirm: 'להריץ שוב את {job} (הרצה {run}) עם אותם נתונים?',
    retrying: 'מריץ שוב את {job}: הרצה חדשה {run}',
    retry_refused: 'ההרצה החוזרת נדחתה: {why}',
    cancel_confirm: 'לבטל את {job} (הרצה {run}, {status})?',
    cancelled: '{job}: בוטלה',
    cancelling: '{job}: מבטל…',
    cancel_refused: 'הביטול נדחה: {why}',
    pause_confirm: 'להשהות את {job}? לא יהיו הרצות חדשות שלו (תזמון, "הרץ עכשיו", הרצות חוזרות) עד לחידוש.',
    resume_confirm: 'לחדש את {job}? התזמון שלה יתחיל שוב.',
    paused: '{job}: הושהתה',
    resumed: '{job}: חודשה',
    pause_refused: 'ההשהיה נדחתה: {why}',
    resume_refused: 'החידוש נדחה: {why}',
    paused_title: 'הושהתה על ידי {who} ב-{at}',
    stuck_title: 'תקועה: {reason} מאז {since}',
    bulk_retry_confirm: 'להריץ שוב את כל {n} ההרצות המתאימות ({range})?',
    bulk_cancel_confirm: 'לבטל את כל {n} ההרצות המתאימות ({range})?',
    bulk_range_default: '7 הימים האחרונים',
    bulk_range: 'שנוצרו {from} – {to}',
    bulk_range_now: 'עכשיו',
    bulk_more: '{n}+',
    bulk_retry_started: 'הרצה חוזרת של הכול: התחילה ({bulk})',
    bulk_cancel_started: 'ביטול הכול: התחיל ({bulk})',
    bulk_retry_done: 'הרצה חוזרת של הכול: {done} בוצעו, {refused} נדחו{why}',
    bulk_cancel_done: 'ביטול הכול: {done} בוצעו, {refused} נדחו{why}',
    bulk_retry_refused: 'הרצה חוזרת של הכול נדחתה: {why}',
    bulk_cancel_refused: 'ביטול הכול נדחה: {why}',
    audit_done: 'בוצע',
    audit_refused: 'נדחה: {code}',
    spark_title: 'משך {n} ההרצות האחרונות',
    spark_empty: 'עוד אין הרצות שהסתיימו',
    trend_title: 'משכי {n} הרצות, 7 ימים',
    trend_title_sampled: 'משכי {n} ההרצות האחרונות (מאז {since})',
    sample_note: '{window}: p50/p95/p99 של {n} ההרצות האחרונות בלבד (מאז {since})',
    run_title: 'הרצה {run}',
    http_error: 'שגיאת שרת ({status})',
    refused_code: 'נדחה ({code})',
    session_expired: 'פג תוקף הכניסה',
    network_error: 'השרת לא ענה; בדקו את החיבור ונסו שוב',
    depth_waiting: 'ממתינות',
    depth_delayed: 'מושהות',
    depth_active: 'פעילות',
    depth_failed: 'נכשלו',
  };
  const ERRORS = {
    job_already_running: 'המשימה כבר רצה',
    job_paused: 'המשימה מושהית',
    job_disabled: 'המשימה מושבתת',
    job_not_found: 'המשימה לא נמצאה',
    job_not_triggerable: 'אי אפשר להפעיל את המשימה הזו ידנית',
    run_not_found: 'ההרצה לא נמצאה',
    run_not_failed: 'אפשר להריץ שוב רק הרצה שנכשלה',
    run_not_active: 'ההרצה כבר הסתיימה',
    run_already_retried: 'ההרצה הזו כבר הורצה מחדש',
    run_payload_gone: 'נתוני ההרצה כבר הוסרו מהתור; אי אפשר להריץ אותה שוב',
    bulk_not_found: 'הפעולה הקבוצתית לא נמצאה',
    pause_unavailable: 'השהיה אינה זמינה כרגע',
    read_only: 'הלוח במצב קריאה בלבד',
    forbidden: 'אין הרשאה',
    forbidden_role: 'לתפקיד שלך אין הרשאה לפעולה הזו',
    not_allowed: 'המשתמש אינו ברשימות המורשים של הבוט',
    wrong_token: 'אסימון שגוי',
    csrf_failed: 'הדף ישן; טענו אותו מחדש ונסו שוב',
    unauthorized: 'פג תוקף הכניסה',
    too_many_requests: 'יותר מדי בקשות; נסו שוב בעוד רגע',
    too_many_auth_failures: 'יותר מדי ניסיונות כניסה שגויים; המתינו דקה',
    invalid_query: 'הסינון אינו תקין',
    invalid_body: 'הבקשה אינה תקינה',
    bad_request: 'הבקשה אינה תקינה',
    payload_too_large: 'הבקשה גדולה מדי',
    not_found: 'לא נמצא',
    store_unavailable: 'מאגר ההרצות אינו זמין כרגע; נסו שוב בעוד רגע',
    stream_unavailable: 'העדכונים החיים אינם זמינים כרגע',
    internal_error: 'שגיאה פנימית',
    network: 'השרת לא ענה; בדקו את החיבור ונסו שוב',
  };
  window.JM_I18N = { messages: MESSAGES, errors: ERRORS, words: WORDS, units, reasons: REASONS };

  /** Data, never translated: ids, names, errors, logs, payloads, code. */
  const SKIP =
    'script, style, pre, code, .mono, .data, .job-name, .job-id, .msg, .error-box, .attempt-error, .alert, .toast, option[value]:not([value=""]), .worker-id, svg title';
  const DATE_OPTS = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' };

  function word(text) {
    const t = text.trim();
    if (!t) return null;
    if (Object.hasOwn(WORDS, t)) return text.replace(t, WORDS[t]);
    for (const [re, fn] of PATTERNS) {
      const m = re.exec(t);
      if (m) return text.replace(t, fn(m));
    }
    return null;
  }
  function translateNode(node) {
    const el = node.parentElement;
    if (!el || el.closest(SKIP) || el.matches('.error-row td')) return;
    // Words first ("x ago", "in x", "up x", "seen x ago" sit in <time> elements too).
    const out = word(node.data);
    if (out !== null) {
      if (out !== node.data) node.data = out;
      return;
    }
    const time = el.closest('time[datetime]');
    // Otherwise a date in a <time> (not already Hebrew): the browser's Hebrew format.
    if (time && !time.dataset.he && !/[\u0590-\u05FF]/.test(node.data)) {
      time.dataset.he = '1';
      node.data = new Date(time.getAttribute('datetime')).toLocaleString('he-IL', DATE_OPTS);
    }
  }
  function translateTree(root) {
    if (root.nodeType === Node.TEXT_NODE) return translateNode(root);
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(translateNode);
    for (const el of [root, ...root.querySelectorAll('[placeholder], [title], [aria-label]')]) {
      for (const a of ['placeholder', 'title', 'aria-label']) {
        const v = el.getAttribute?.(a);
        if (v && Object.hasOwn(WORDS, v)) el.setAttribute(a, WORDS[v]);
      }
    }
  }
  translateTree(document.body);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'characterData') translateNode(r.target);
      else for (const n of r.addedNodes) translateTree(n);
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
})();
