import { RUN_WORDS } from '../monitor/run-words';

/** Server-rendered HTML shells of the dashboard. Every interpolated value goes through {@link esc}. */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and quoted attributes. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export const STATIC_BASE = '/jobs/monitor/static';

/** Language of the pages (LOCALE): `he` sets `dir="rtl"` and loads the Hebrew words (i18n-he.js). */
export type PageLocale = 'en' | 'he';

/**
 * A JSON island for the page's scripts (`<script type="application/json">`: not executed, so CSP-safe).
 * `<`, `>` and `&` are \u-escaped, so no value can close the script element.
 */
export function jsonScript(id: string, value: unknown): string {
  const json = JSON.stringify(value).replace(
    /[<>&]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `<script type="application/json" id="${esc(id)}">${json}</script>`;
}

/** The words the bot and the dashboard share (src/monitor/run-words.ts), for i18n-he.js (`#jm-words`). */
function sharedWords(locale: PageLocale): string {
  const w = RUN_WORDS[locale];
  return jsonScript('jm-words', { ...w.status, ...w.trigger });
}

function layout(title: string, body: string, bodyAttrs = '', locale: PageLocale = 'en'): string {
  const he = locale === 'he';
  return `<!doctype html>
<html lang="${he ? 'he' : 'en'}"${he ? ' dir="rtl"' : ''}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)}</title>
<link rel="icon" href="${STATIC_BASE}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${STATIC_BASE}/dashboard.css">${
    he
      ? `
${sharedWords('he')}
<script src="${STATIC_BASE}/i18n-he.js" defer></script>`
      : ''
  }
</head>
<body${bodyAttrs}>
${body}
</body>
</html>`;
}

/** The login form. `next` is where to go after signing in (a validated local path). */
export function loginPage(o: { csrf: string; next: string; error?: string; locale?: PageLocale }): string {
  return layout(
    'Sign in · Jobs Monitor',
    `<main class="login">
  <form class="login-card" method="post" action="/jobs/monitor/login">
    <div class="brand"><span class="logo" aria-hidden="true"></span>Jobs Monitor</div>
    <p class="muted">Sign in with the admin token (<code>DB_HEALTH_TOKEN</code>) or a named token (<code>API_TOKENS</code>).</p>
    ${o.error ? `<p class="alert" role="alert">${esc(o.error)}</p>` : ''}
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <input type="hidden" name="_csrf" value="${esc(o.csrf)}">
    <input type="hidden" name="next" value="${esc(o.next)}">
    <button type="submit" class="btn primary">Sign in</button>
  </form>
</main>`,
    ' class="login-body"',
    o.locale,
  );
}

/** The dashboard shell; dashboard.js fills it from the API. */
export function dashboardPage(o: {
  csrf: string;
  readOnly: boolean;
  expiresAt: number;
  locale?: PageLocale;
  /**
   * The signed-in token's name and (effective) role; the page shows only the actions the role allows (Log out
   * everywhere: admins).
   */
  user?: string;
  role?: string;
}): string {
  const ro = o.readOnly ? '<span class="badge ro" title="DASHBOARD_READ_ONLY=true">read-only</span>' : '';
  const role = o.role ?? 'admin';
  return layout(
    'Jobs Monitor',
    `<header class="topbar">
  <div class="brand"><span class="logo" aria-hidden="true"></span>Jobs Monitor ${ro}</div>
  <nav class="nav">
    <a href="#active">Active</a><a href="#jobs">Jobs</a><a href="#history">History</a><a href="#trends">Trends</a><a href="#workers">Workers</a><a href="#audit">Audit</a>
    <a href="/jobs/queues" class="ext">Bull Board</a>
  </nav>
  <div class="session">
    <span id="live" class="live off" title="Live updates">connecting</span>
    <span id="whoami" class="muted small"><span class="data">${esc(o.user ?? 'admin')}</span> · <span class="role">${esc(role)}</span></span>
    <form method="post" action="/jobs/monitor/logout">
      <input type="hidden" name="_csrf" value="${esc(o.csrf)}">
      <button type="submit" class="btn ghost">Log out</button>
    </form>
${
  role === 'admin'
    ? `    <form method="post" action="/jobs/monitor/logout-all">
      <input type="hidden" name="_csrf" value="${esc(o.csrf)}">
      <button type="submit" class="btn ghost" title="End every dashboard session, in every browser">Log out everywhere</button>
    </form>`
    : ''
}
  </div>
</header>
<main class="page">
  <div id="toast" class="toast" role="status" aria-live="polite" hidden></div>
  <section id="active" class="panel">
    <div class="panel-head"><h2>Active runs <span id="active-count" class="count">0</span></h2></div>
    <div id="active-list" class="active-list"><p class="empty">Nothing is running.</p></div>
  </section>
  <section id="jobs" class="panel">
    <div class="panel-head"><h2>Jobs</h2><span class="muted small">success rate and durations: last 24 h</span></div>
    <div id="jobs-groups"><p class="empty">Loading…</p></div>
  </section>
  <section id="history" class="panel">
    <div class="panel-head"><h2>History</h2></div>
    <form id="filters" class="filters">
      <label>Job <select name="job_id"><option value="">all</option></select></label>
      <label>Status <select name="status"><option value="">all</option>
        <option>pending</option><option>running</option><option>completed</option><option>failed</option><option>skipped</option><option>cancelled</option>
      </select></label>
      <label>Stuck <select name="stuck"><option value="">all</option><option value="true">stuck</option></select></label>
      <label>Trigger <select name="trigger"><option value="">all</option>
        <option>scheduled</option><option>manual</option><option>api</option></select></label>
      <label>User <input name="user_id" type="search" maxlength="128" placeholder="user id"></label>
      <label class="search">Search <input name="q" type="search" maxlength="200" placeholder="run id, user id, call_sid…"></label>
      <label>From <input name="since" type="date"></label>
      <label>To <input name="until" type="date" title="inclusive: runs created up to the end of this day"></label>
      <button type="submit" class="btn">Apply</button>
      <button type="reset" class="btn ghost">Clear</button>
      <span id="bulk-actions" hidden><button id="bulk-retry" type="button" class="btn ghost">Retry all matching</button><button id="bulk-cancel" type="button" class="btn ghost">Cancel all matching</button></span>
    </form>
    <div class="table-wrap"><table class="grid" id="runs-table">
      <thead><tr><th>Created</th><th>Job</th><th>Status</th><th>Trigger</th><th>User</th><th class="num">Duration</th><th class="num">Items</th><th>Run</th><th></th></tr></thead>
      <tbody id="runs-body"></tbody>
    </table></div>
    <div class="pager"><button id="newer" class="btn ghost" disabled>← Newer</button><span id="page-info" class="muted small"></span><button id="older" class="btn ghost" disabled>Older →</button></div>
  </section>
  <section id="trends" class="panel">
    <div class="panel-head"><h2>Trends</h2><label class="muted small">Job <select id="trend-job"></select></label></div>
    <div id="trend-body"><p class="empty">Pick a job.</p></div>
  </section>
  <section id="workers" class="panel">
    <div class="panel-head"><h2>Workers <span id="workers-count" class="count">0</span></h2><span class="muted small">live heartbeats; queue depth beside</span></div>
    <div id="queue-depths" class="depths"></div>
    <div id="workers-list" class="workers-list"><p class="empty">Loading…</p></div>
  </section>
  <section id="audit" class="panel">
    <div class="panel-head"><h2>Audit</h2><button id="audit-refresh" type="button" class="btn ghost small">Refresh</button></div>
    <div class="table-wrap"><table class="grid" id="audit-table">
      <thead><tr><th>When</th><th>Who</th><th>Role</th><th>Action</th><th>Subject</th><th>Outcome</th><th>Detail</th></tr></thead>
      <tbody id="audit-body"></tbody>
    </table></div>
  </section>
</main>
<dialog id="confirm-modal" class="modal confirm" aria-labelledby="confirm-text">
  <p id="confirm-text" class="confirm-text"></p>
  <div class="confirm-actions"><button id="confirm-no" type="button" class="btn ghost">Back</button><button id="confirm-yes" type="button" class="btn primary">Confirm</button></div>
</dialog>
<dialog id="run-modal" class="modal" aria-labelledby="modal-title">
  <div class="modal-head"><h3 id="modal-title">Run</h3><button id="modal-close" class="btn ghost" aria-label="Close">✕</button></div>
  <div id="modal-body" class="modal-body"></div>
</dialog>
<script src="${STATIC_BASE}/dashboard.js" defer></script>`,
    ` data-csrf="${esc(o.csrf)}" data-read-only="${o.readOnly}" data-expires="${o.expiresAt}" data-role="${esc(role)}"`,
    o.locale,
  );
}
