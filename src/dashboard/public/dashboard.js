// Jobs Monitor dashboard. Plain browser JS, no framework. Reads everything from /api/jobs with the
// session cookie; writes data into the page only through textContent / DOM APIs (never innerHTML).
(() => {
  const body = document.body;
  const CSRF = body.dataset.csrf || '';
  // #12: a viewer's session (or DASHBOARD_READ_ONLY) shows no action buttons; ROLE gates admin actions.
  const ROLE = body.dataset.role || 'admin';
  const READ_ONLY = body.dataset.readOnly === 'true' || ROLE === 'viewer';
  const PAGE_SIZE = 25;
  const FINISHED = ['completed', 'failed', 'skipped', 'cancelled'];
  const KEEP_FINISHED_MS = 15000;

  /** @type {Map<string, any>} */
  const jobs = new Map();
  /** @type {Map<string, any>} active (and just-finished) runs by run_id */
  const active = new Map();
  const hist = { cursors: [null], page: 0, next: null, filters: {} };
  let modalRunId = null;

  // ---------- DOM helpers ----------
  /** Creates an element; string/number children become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  // ---------- messages ----------
  // Sentences built around data (toasts, confirmations, tooltips). Under LOCALE=he, i18n-he.js (loaded first)
  // supplies window.JM_I18N: the same sentences in Hebrew, a Hebrew sentence per API error code, and its word
  // and unit translation for the values put into them (statuses, "5.0 s").
  const I18N = document.documentElement.lang === 'he' ? window.JM_I18N || {} : {};
  const LOCALE_TAG = document.documentElement.lang === 'he' ? 'he-IL' : undefined;
  const MESSAGES = {
    started: '{job}: started run {run}',
    refused: '{job}: {why}',
    retry_confirm: 'Retry {job} (run {run}) with the same payload?',
    retrying: 'Retrying {job}: new run {run}',
    retry_refused: 'Retry refused: {why}',
    cancel_confirm: 'Cancel {job} (run {run}, {status})?',
    cancelled: '{job}: cancelled',
    cancelling: '{job}: cancelling…',
    cancel_refused: 'Cancel refused: {why}',
    pause_confirm: 'Pause {job}? No new runs of it (schedule, Run now, retries, enqueues) until resumed.',
    resume_confirm: 'Resume {job}? Its schedule starts again.',
    paused: '{job}: paused',
    resumed: '{job}: resumed',
    pause_refused: 'Pause refused: {why}',
    resume_refused: 'Resume refused: {why}',
    paused_title: 'paused by {who} at {at}',
    stuck_title: 'stuck: {reason} since {since}',
    bulk_retry_confirm: 'Retry all {n} matching runs ({range})?',
    bulk_cancel_confirm: 'Cancel all {n} matching runs ({range})?',
    bulk_range_default: 'last 7 days',
    bulk_range: 'created {from} – {to}',
    bulk_range_now: 'now',
    bulk_more: '{n}+',
    bulk_retry_started: 'Retry all: started ({bulk})',
    bulk_cancel_started: 'Cancel all: started ({bulk})',
    bulk_retry_done: 'Retry all: {done} done, {refused} refused{why}',
    bulk_cancel_done: 'Cancel all: {done} done, {refused} refused{why}',
    bulk_retry_refused: 'Retry all refused: {why}',
    bulk_cancel_refused: 'Cancel all refused: {why}',
    audit_done: 'done',
    audit_refused: 'refused: {code}',
    spark_title: 'Duration of the last {n} runs',
    spark_empty: 'No finished runs yet',
    trend_title: 'Durations of {n} runs, 7 days',
    trend_title_sampled: 'Durations of the last {n} runs (since {since})',
    sample_note: '{window}: p50/p95/p99 of the last {n} runs only (since {since})',
    run_title: 'Run {run}',
    http_error: 'HTTP {status}',
    refused_code: 'refused ({code})',
    session_expired: 'session expired',
    network_error: 'the server did not answer; check the connection and try again',
    // Queue depth (jobs in the queue by state; plural nouns in Hebrew, unlike a run's status).
    depth_waiting: 'waiting',
    depth_delayed: 'delayed',
    depth_active: 'active',
    depth_failed: 'failed',
    ...(I18N.messages || {}),
  };
  /** A message with its {placeholders} filled in (values as given: data stays data). */
  function t(key, vars) {
    return MESSAGES[key].replace(/\{(\w+)\}/g, (_, k) => String(vars?.[k] ?? ''));
  }
  /** A page word (status, role…) in the page's language. */
  const word = (w) => (I18N.words && Object.hasOwn(I18N.words, w) ? I18N.words[w] : w);
  /** "5.0 s" / "3 min" in the page's language. */
  const units = (text) => (I18N.units ? I18N.units(text) : text);
  /** A stuck reason code (running_too_long) in the page's language (English shows the code). */
  const reason = (code) =>
    code && I18N.reasons && Object.hasOwn(I18N.reasons, code) ? I18N.reasons[code] : code || '';
  /** Why the API refused: under Hebrew the sentence for its error code, else the API's own message. */
  function why(err) {
    if (I18N.errors && err.code && Object.hasOwn(I18N.errors, err.code)) return I18N.errors[err.code];
    if (I18N.errors && err.code) return t('refused_code', { code: err.code });
    return err.message;
  }

  // ---------- formatting ----------
  function ago(iso) {
    if (!iso) return '—';
    const ms = Date.now() - Date.parse(iso);
    const future = ms < 0;
    const a = Math.abs(ms) / 1000;
    const t =
      a < 45
        ? `${Math.round(a)} s`
        : a < 3600
          ? `${Math.round(a / 60)} min`
          : a < 86400
            ? `${Math.round(a / 3600)} h`
            : `${Math.round(a / 86400)} d`;
    return future ? `in ${t}` : `${t} ago`;
  }
  function dur(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
    const m = Math.floor(ms / 60000);
    return m < 60 ? `${m} min ${Math.round((ms % 60000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  function clock(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return d.toLocaleString(LOCALE_TAG, {
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }
  const time = (iso, text) =>
    h(
      'time',
      { datetime: iso || undefined, title: iso ? new Date(iso).toLocaleString(LOCALE_TAG) : undefined },
      text,
    );
  const pill = (status) => h('span', { class: `pill s-${status}` }, status);
  const items = (r) =>
    r.total_items
      ? `${r.processed_items ?? 0}/${r.total_items}`
      : r.processed_items
        ? String(r.processed_items)
        : '—';

  function toast(msg, kind) {
    const el = $('toast');
    el.textContent = msg;
    el.className = `toast ${kind || ''}`;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (el.hidden = true), 6000);
  }

  // ---------- API ----------
  async function api(path, opts) {
    const init = { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...(opts || {}) };
    if (init.method && init.method !== 'GET') init.headers['X-CSRF-Token'] = CSRF;
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      const err = new Error(t('network_error'));
      err.code = 'network';
      throw err;
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.status === 401) {
      location.assign(`/jobs/monitor/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      const err = new Error(t('session_expired'));
      err.code = 'unauthorized';
      throw err;
    }
    if (!res.ok) {
      const err = new Error(data?.message || t('http_error', { status: res.status }));
      err.code = data?.error || `http_${res.status}`;
      throw err;
    }
    return data;
  }

  // ---------- Jobs ----------
  function sparkline(recent) {
    const w = 120;
    const hgt = 26;
    const svg = s('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img' });
    const runs = (recent || []).filter((r) => typeof r.duration_ms === 'number');
    svg.append(s('title', {}, runs.length ? t('spark_title', { n: runs.length }) : t('spark_empty')));
    if (!runs.length) {
      svg.append(s('line', { x1: 0, y1: hgt - 1, x2: w, y2: hgt - 1, class: 'spark-base' }));
      return svg;
    }
    const max = Math.max(...runs.map((r) => r.duration_ms), 1);
    const slot = w / 20;
    runs.forEach((r, i) => {
      const bh = Math.max(2, Math.round((r.duration_ms / max) * (hgt - 2)));
      const bar = s('rect', {
        x: (20 - runs.length + i) * slot + 1,
        y: hgt - bh,
        width: Math.max(2, slot - 2),
        height: bh,
        rx: 1,
        class: `bar b-${r.status}`,
      });
      bar.append(s('title', {}, `${word(r.status)} · ${units(dur(r.duration_ms))} · ${clock(r.created_at)}`));
      svg.append(bar);
    });
    return svg;
  }

  function jobRow(job) {
    const st = job.stats;
    const last = st?.last_run;
    const rate =
      st && st.success_rate !== null && st.success_rate !== undefined
        ? Math.round(st.success_rate * 100)
        : null;
    const runBtn =
      job.can_trigger && !READ_ONLY
        ? h(
            'button',
            {
              class: 'btn small',
              type: 'button',
              dataset: { run: job.job_id },
              disabled: !job.enabled,
              onclick: () => runNow(job),
            },
            'Run now',
          )
        : null;
    return h(
      'tr',
      { dataset: { job: job.job_id } },
      h('td', {}, h('div', { class: 'job-name' }, job.name), h('div', { class: 'job-id mono' }, job.job_id)),
      h(
        'td',
        {},
        h(
          'span',
          { class: `tag ${job.is_dynamic ? 'dyn' : 'static'}` },
          job.is_dynamic ? 'dynamic' : 'static',
        ),
      ),
      h(
        'td',
        {},
        h('span', { class: `dot ${job.enabled ? 'on' : 'off'}` }),
        job.enabled ? 'enabled' : 'disabled',
      ),
      h('td', { class: 'sched' }, job.schedule_text || job.schedule || '—'),
      h(
        'td',
        { class: 'last' },
        last
          ? [pill(last.status), ' ', time(last.created_at, ago(last.created_at))]
          : h('span', { class: 'muted' }, 'never'),
      ),
      h(
        'td',
        {},
        st?.next_run_at ? time(st.next_run_at, ago(st.next_run_at)) : h('span', { class: 'muted' }, '—'),
      ),
      h(
        'td',
        { class: 'num' },
        rate === null
          ? h('span', { class: 'muted' }, '—')
          : h('span', { class: rate >= 95 ? 'ok' : rate >= 80 ? 'warn' : 'bad' }, `${rate}%`),
        st?.total ? h('div', { class: 'muted small' }, `${st.total} runs`) : null,
      ),
      h(
        'td',
        { class: 'chart' },
        sparkline(st?.recent),
        st && st.duration_ms.p50 !== null
          ? h(
              'div',
              { class: 'muted small' },
              `p50 ${dur(st.duration_ms.p50)} · p95 ${dur(st.duration_ms.p95)}`,
            )
          : null,
      ),
      h('td', { class: 'act' }, runBtn, ...opsJobExtras(job)),
    );
  }

  function renderJobs() {
    const root = $('jobs-groups');
    const byCat = new Map();
    for (const j of jobs.values()) {
      if (!byCat.has(j.category)) byCat.set(j.category, []);
      byCat.get(j.category).push(j);
    }
    const cats = [...byCat.keys()].sort();
    if (!cats.length) {
      root.replaceChildren(h('p', { class: 'empty' }, 'No jobs registered.'));
      return;
    }
    const heads = [
      'Job',
      'Type',
      'State',
      'Schedule',
      'Last run',
      'Next run',
      'Success 24 h',
      'Recent durations',
      '',
    ];
    const table = h(
      'table',
      { class: 'grid jobs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          heads.map((t, i) => h('th', { class: i === 6 ? 'num' : undefined }, t)),
        ),
      ),
      cats.map((cat) =>
        h(
          'tbody',
          { class: 'group', dataset: { category: cat } },
          h(
            'tr',
            { class: 'group-row' },
            h(
              'th',
              { colspan: heads.length },
              h('span', { class: 'data' }, cat),
              ' ',
              h('span', { class: 'count' }, byCat.get(cat).length),
            ),
          ),
          byCat.get(cat).map(jobRow),
        ),
      ),
    );
    root.replaceChildren(h('div', { class: 'table-wrap' }, table));
  }

  async function loadStats(jobId) {
    try {
      const { stats } = await api(`/api/jobs/${encodeURIComponent(jobId)}/stats?window=24h`);
      const j = jobs.get(jobId);
      if (j) j.stats = stats;
    } catch {
      // the row shows dashes
    }
  }

  let jobsListed = null;
  async function loadJobs() {
    jobsListed = api('/api/jobs');
    const { jobs: list } = await jobsListed;
    jobs.clear();
    for (const j of list) jobs.set(j.job_id, j);
    fillJobFilter();
    renderJobs();
    await Promise.all(list.map((j) => loadStats(j.job_id)));
    renderJobs();
  }

  const refreshStats = debounce(async (ids) => {
    await Promise.all([...ids].map(loadStats));
    renderJobs();
  }, 800);

  async function runNow(job) {
    const btn = document.querySelector(`button[data-run="${CSS.escape(job.job_id)}"]`);
    if (btn) btn.disabled = true;
    try {
      const { run_id } = await api(`/api/jobs/${encodeURIComponent(job.job_id)}/trigger`, { method: 'POST' });
      toast(t('started', { job: job.name, run: run_id }), 'ok');
      upsertActive({
        run_id,
        job_id: job.job_id,
        status: 'pending',
        created_at: new Date().toISOString(),
        trigger: 'manual',
      });
    } catch (err) {
      toast(t('refused', { job: job.name, why: why(err) }), 'bad');
    } finally {
      if (btn) setTimeout(() => (btn.disabled = !job.enabled), 1000);
    }
  }

  // ---------- Active runs ----------
  function upsertActive(patch) {
    const cur = active.get(patch.run_id) || {};
    const run = { ...cur, ...patch };
    if (FINISHED.includes(run.status) && !run.finishedAt) run.finishedAt = Date.now();
    active.set(run.run_id, run);
    renderActive();
  }

  function activeCard(r) {
    const job = jobs.get(r.job_id);
    const pct =
      FINISHED.includes(r.status) && r.status === 'completed'
        ? 100
        : Math.max(0, Math.min(100, r.progress || 0));
    const since = r.started_at || r.created_at;
    const elapsed = since ? (r.ended_at ? Date.parse(r.ended_at) : Date.now()) - Date.parse(since) : null;
    return h(
      'div',
      { class: `run-card s-${r.status}`, dataset: { runId: r.run_id } },
      h(
        'div',
        { class: 'run-card-head' },
        h(
          'button',
          { class: 'link job-name', type: 'button', onclick: () => openRun(r.run_id) },
          job ? job.name : r.job_id,
        ),
        pill(r.status),
        ...opsRunExtras(r),
      ),
      h(
        'div',
        {
          class: 'progress',
          role: 'progressbar',
          'aria-valuemin': 0,
          'aria-valuemax': 100,
          'aria-valuenow': pct,
        },
        h('div', { class: 'progress-fill', style: null, dataset: { pct: String(pct) } }),
      ),
      h(
        'div',
        { class: 'run-card-meta' },
        h('span', { class: 'pct' }, `${Math.round(pct)}%`),
        h('span', { class: 'items' }, items(r)),
        h('span', { class: 'elapsed' }, elapsed === null ? '' : dur(elapsed)),
        h('span', { class: 'mono muted' }, r.run_id),
      ),
    );
  }

  function renderActive() {
    const now = Date.now();
    for (const [id, r] of active)
      if (r.finishedAt && now - r.finishedAt > KEEP_FINISHED_MS) active.delete(id);
    const runs = [...active.values()].sort((a, b) =>
      String(b.created_at).localeCompare(String(a.created_at)),
    );
    $('active-count').textContent = String(runs.filter((r) => !FINISHED.includes(r.status)).length);
    const list = $('active-list');
    list.replaceChildren(
      ...(runs.length ? runs.map(activeCard) : [h('p', { class: 'empty' }, 'Nothing is running.')]),
    );
    // Widths through CSSOM (allowed by the CSP), not inline style attributes.
    for (const fill of list.querySelectorAll('.progress-fill')) fill.style.width = `${fill.dataset.pct}%`;
  }

  async function loadActive() {
    const { runs } = await api('/api/jobs/active');
    for (const [id, r] of active) if (!r.finishedAt) active.delete(id);
    for (const r of runs) active.set(r.run_id, r);
    renderActive();
  }

  // ---------- Live stream ----------
  function connect() {
    const live = $('live');
    const es = new EventSource('/api/jobs/stream');
    let first = true;
    es.addEventListener('ready', () => {
      live.textContent = 'live';
      live.className = 'live on';
      // Changes between the page's first load and the stream being ready were not streamed to it: read the
      // active runs again once it is (and everything after a reconnect).
      void loadActive();
      if (!first) void loadHistory();
      first = false;
    });
    es.addEventListener('heartbeat', () => {
      live.className = 'live on';
    });
    es.onerror = () => {
      live.textContent = 'reconnecting';
      live.className = 'live off';
    };
    const changed = new Set();
    const onRun = (ev) => {
      let e;
      try {
        e = JSON.parse(ev.data);
      } catch {
        return;
      }
      upsertActive(
        e.job_id ? { run_id: e.run_id, job_id: e.job_id, ...e.run } : { run_id: e.run_id, ...e.run },
      );
      if ((e.type === 'finished' || e.type === 'created') && e.job_id) {
        changed.add(e.job_id);
        refreshStats(changed);
        refreshHistory();
      }
      if (modalRunId === e.run_id && e.type === 'finished') void openRun(e.run_id, true);
    };
    es.addEventListener('created', onRun);
    es.addEventListener('progress', onRun);
    es.addEventListener('finished', onRun);
    es.addEventListener('log', (ev) => {
      let e;
      try {
        e = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (modalRunId === e.run_id) appendLogs(e.logs || []);
    });
  }

  // ---------- History ----------
  function fillJobFilter() {
    const sel = document.querySelector('#filters select[name="job_id"]');
    const current = sel.value;
    sel.replaceChildren(
      h('option', { value: '' }, 'all'),
      ...[...jobs.values()].map((j) => h('option', { value: j.job_id }, j.job_id)),
    );
    sel.value = current;
  }

  function historyRow(r) {
    // Every failed run, static or dynamic: the server applies the rules (already retried, paused, …).
    const retry =
      r.status === 'failed' && !READ_ONLY
        ? h(
            'button',
            {
              class: 'btn small ghost',
              type: 'button',
              onclick: (ev) => {
                ev.stopPropagation();
                void retryRun(r);
              },
            },
            'Retry',
          )
        : null;
    const row = h(
      'tr',
      {
        class: `clickable s-${r.status}`,
        tabindex: 0,
        dataset: { runId: r.run_id },
        onclick: () => openRun(r.run_id),
        onkeydown: (ev) => ev.key === 'Enter' && openRun(r.run_id),
      },
      h('td', {}, time(r.created_at, clock(r.created_at))),
      h('td', { class: 'job-id' }, r.job_id),
      h('td', {}, pill(r.status), ...opsRunExtras(r).slice(0, 1)),
      h('td', {}, r.trigger),
      h('td', { class: 'mono' }, r.user_id || '—'),
      h('td', { class: 'num' }, dur(r.duration_ms)),
      h('td', { class: 'num' }, items(r)),
      h('td', { class: 'mono muted' }, r.run_id),
      h('td', { class: 'act' }, retry, opsRunExtras(r)[1]),
    );
    if (r.status !== 'failed' || !r.error_message) return [row];
    return [
      row,
      h(
        'tr',
        { class: 'error-row', onclick: () => openRun(r.run_id) },
        h('td', { colspan: 9 }, h('span', { class: 'err-label' }, 'error'), ' ', r.error_message),
      ),
    ];
  }

  /** Bumped by every history load: only the latest one's answer is shown (an older, slower one is dropped). */
  let historyLoads = 0;
  async function loadHistory() {
    const mine = ++historyLoads;
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [k, v] of Object.entries(hist.filters)) if (v) q.set(k, v);
    const cursor = hist.cursors[hist.page];
    if (cursor) q.set('cursor', cursor);
    const tbody = $('runs-body');
    try {
      const page = await api(`/api/jobs/runs?${q}`);
      if (mine !== historyLoads) return;
      hist.next = page.next_cursor;
      tbody.replaceChildren(
        ...(page.runs.length
          ? page.runs.flatMap(historyRow)
          : [h('tr', {}, h('td', { colspan: 9, class: 'empty' }, 'No runs match.'))]),
      );
      $('page-info').textContent = `page ${hist.page + 1}`;
      $('newer').disabled = hist.page === 0;
      $('older').disabled = !hist.next;
    } catch (err) {
      if (mine !== historyLoads) return;
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 9, class: 'alert' }, why(err))));
    }
  }
  const refreshHistory = debounce(() => {
    if (hist.page === 0) void loadHistory();
  }, 800);

  async function retryRun(r) {
    if (!(await confirmAction(t('retry_confirm', { job: r.job_id, run: r.run_id })))) return;
    try {
      const { run_id } = await api(`/api/jobs/runs/${encodeURIComponent(r.run_id)}/retry`, {
        method: 'POST',
      });
      toast(t('retrying', { job: r.job_id, run: run_id }), 'ok');
    } catch (err) {
      toast(t('retry_refused', { why: why(err) }), 'bad');
    }
  }

  // ---------- Run modal ----------
  function logRow(l) {
    return h(
      'tr',
      { class: `log l-${l.level}` },
      h('td', { class: 'mono nowrap' }, time(l.time, new Date(l.time).toLocaleTimeString())),
      h('td', {}, h('span', { class: `lvl lvl-${l.level}` }, l.level)),
      h('td', { class: 'msg' }, l.message),
    );
  }
  function appendLogs(lines) {
    const tb = document.querySelector('#modal-body .logs tbody');
    if (!tb) return;
    tb.querySelector('.empty-row')?.remove();
    for (const l of lines) tb.append(logRow(l));
  }

  async function openRun(runId, refresh) {
    const dlg = $('run-modal');
    modalRunId = runId;
    const url = new URL(location.href);
    url.searchParams.set('run_id', runId);
    window.history.replaceState(null, '', url);
    if (!refresh) {
      $('modal-title').textContent = t('run_title', { run: runId });
      $('modal-body').replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      if (!dlg.open) dlg.showModal();
    }
    let run;
    let payload;
    try {
      ({ run, payload } = await api(`/api/jobs/runs/${encodeURIComponent(runId)}`));
    } catch (err) {
      $('modal-body').replaceChildren(h('p', { class: 'alert' }, why(err)));
      return;
    }
    if (modalRunId !== runId) return;
    await (jobsListed || Promise.resolve()).catch(() => undefined);
    const job = jobs.get(run.job_id);
    $('modal-title').replaceChildren(
      h('span', { class: 'job-name' }, job ? job.name : run.job_id),
      ' ',
      pill(run.status),
    );
    const field = (k, v) => h('div', { class: 'fact' }, h('dt', {}, k), h('dd', {}, v));
    const facts = h(
      'dl',
      { class: 'facts' },
      field('Run', h('span', { class: 'mono' }, run.run_id)),
      field('Job', h('span', { class: 'mono' }, run.job_id)),
      field('Trigger', run.trigger),
      field('User', run.user_id || '—'),
      field('Created', time(run.created_at, clock(run.created_at))),
      field('Started', time(run.started_at, clock(run.started_at))),
      field('Ended', time(run.ended_at, clock(run.ended_at))),
      field('Duration', dur(run.duration_ms)),
      field('Progress', `${Math.round(run.progress || 0)}% (${items(run)})`),
      field('Attempts', String(run.attempts)),
      field('Worker', h('span', { class: 'mono' }, run.worker || '—')),
    );
    const parts = [facts];
    if (run.error_message)
      parts.push(h('h4', {}, 'Error'), h('pre', { class: 'error-box' }, run.error_message));
    parts.push(...runDetailParts(run, payload));
    if (run.result !== null && run.result !== undefined)
      parts.push(h('h4', {}, 'Result'), h('pre', { class: 'code' }, JSON.stringify(run.result, null, 2)));
    parts.push(
      h('h4', {}, `Logs (${run.logs.length}, last 50 kept)`),
      h(
        'div',
        { class: 'table-wrap logs-wrap' },
        h(
          'table',
          { class: 'grid logs' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Level'), h('th', {}, 'Message'))),
          h(
            'tbody',
            {},
            run.logs.length
              ? run.logs.map(logRow)
              : h('tr', { class: 'empty-row' }, h('td', { colspan: 3, class: 'empty' }, 'No log lines.')),
          ),
        ),
      ),
    );
    $('modal-body').replaceChildren(...parts);
  }

  function closeModal() {
    modalRunId = null;
    const url = new URL(location.href);
    url.searchParams.delete('run_id');
    window.history.replaceState(null, '', url);
  }

  // ---------- Workers (GET /api/jobs/workers) ----------
  const WORKERS_POLL_MS = 10000;
  function workerCard(w) {
    const runs = w.runs || [];
    return h(
      'div',
      { class: 'worker-card', dataset: { workerId: w.id } },
      h(
        'div',
        { class: 'run-card-head' },
        h('span', { class: 'mono worker-id' }, w.id),
        h(
          'span',
          { class: `pill ${w.active ? 's-running' : 's-completed'}` },
          `${w.active}/${w.concurrency}`,
        ),
      ),
      h(
        'div',
        { class: 'run-card-meta' },
        h('span', { class: 'data' }, (w.queues || []).join(', ')),
        h('span', { class: 'muted data' }, `v${w.version}`),
        h('span', { class: 'muted' }, time(w.started_at, `up ${ago(w.started_at).replace(/ ago$/, '')}`)),
        h('span', { class: 'muted' }, time(w.last_seen_at, `seen ${ago(w.last_seen_at)}`)),
      ),
      runs.length
        ? h(
            'ul',
            { class: 'worker-runs' },
            runs.map((id) =>
              h(
                'li',
                {},
                h('button', { class: 'link mono', type: 'button', onclick: () => openRun(id) }, id),
              ),
            ),
          )
        : h('p', { class: 'muted small' }, 'idle'),
    );
  }
  function depthChip(q) {
    return h(
      'div',
      { class: 'depth', dataset: { queue: q.queue } },
      h('strong', { class: 'mono' }, q.queue),
      ...['waiting', 'delayed', 'active', 'failed'].map((k) =>
        h('span', { class: `d-${k}` }, h('span', { class: 'muted' }, t(`depth_${k}`)), ' ', String(q[k])),
      ),
    );
  }
  async function loadWorkers() {
    const list = $('workers-list');
    if (!list) return;
    try {
      const { workers, queues } = await api('/api/jobs/workers');
      $('workers-count').textContent = String(workers.length);
      $('queue-depths').replaceChildren(...(queues || []).map(depthChip));
      list.replaceChildren(
        ...(workers.length ? workers.map(workerCard) : [h('p', { class: 'empty' }, 'No worker is alive.')]),
      );
    } catch (err) {
      list.replaceChildren(h('p', { class: 'alert' }, why(err)));
    }
  }

  // ---------- Search and date range (q, since, until) ----------
  /**
   * The history form's fields as /api/jobs/runs parameters. Dates are the browser's local days: "From" is the
   * start of that day, "To" the start of the day after (the API's `until` is exclusive), so both are inclusive.
   */
  function historyFilters(fd) {
    const f = Object.fromEntries(fd.entries());
    const day = (v, plus) => {
      if (!v) return '';
      const d = new Date(`${v}T00:00:00`);
      if (Number.isNaN(d.getTime())) return '';
      d.setDate(d.getDate() + plus);
      return String(d.getTime());
    };
    f.since = day(f.since, 0);
    f.until = day(f.until, 1);
    if (f.q) f.q = f.q.trim();
    return f;
  }

  // ---------- Run detail: retry links, stack, attempts timeline, payload ----------
  const OUTCOME_STATUS = {
    completed: 'completed',
    failed: 'failed',
    stalled: 'failed',
    cancelled: 'cancelled',
    skipped: 'skipped',
  };
  function runLink(id) {
    return h('button', { class: 'link mono', type: 'button', onclick: () => openRun(id) }, id);
  }
  function runDetailParts(run, payload) {
    const parts = [];
    const links = [];
    if (run.retry_of) links.push(h('span', { class: 'retry-of' }, 'Retry of ', runLink(run.retry_of)));
    if (run.retried_by)
      links.push(h('span', { class: 'retried-by' }, 'Retried by ', runLink(run.retried_by)));
    if (links.length) parts.push(h('p', { class: 'retry-links' }, ...links));
    if (run.error_stack)
      parts.push(
        h('h4', {}, 'Stack'),
        h('pre', { class: 'error-box stack' }, run.error_stack.split('\n').slice(0, 20).join('\n')),
      );
    const attempts = run.attempts_log || [];
    if (attempts.length)
      parts.push(
        h('h4', {}, `Attempts (${attempts.length})`),
        h(
          'ol',
          { class: 'timeline' },
          attempts.map((a) =>
            h(
              'li',
              { class: `attempt o-${a.outcome}` },
              h(
                'div',
                { class: 'attempt-head' },
                h('strong', {}, `#${a.attempt}`),
                h('span', { class: `pill s-${OUTCOME_STATUS[a.outcome] || 'pending'}` }, a.outcome),
                h('span', { class: 'mono muted' }, a.worker || '—'),
              ),
              h(
                'div',
                { class: 'attempt-times muted small' },
                time(a.started_at, clock(a.started_at)),
                ' → ',
                time(a.ended_at, clock(a.ended_at)),
                a.started_at && a.ended_at
                  ? ` (${units(dur(Date.parse(a.ended_at) - Date.parse(a.started_at)))})`
                  : '',
              ),
              a.error ? h('div', { class: 'attempt-error' }, a.error) : null,
            ),
          ),
        ),
      );
    if (payload !== undefined)
      parts.push(
        h('h4', {}, 'Payload'),
        payload === null
          ? h(
              'p',
              { class: 'muted small payload-gone' },
              'Not available: the queue job was removed (retention).',
            )
          : h('pre', { class: 'code payload' }, JSON.stringify(payload, null, 2)),
      );
    return parts;
  }

  // ---------- Trends (GET /api/jobs/:job_id/trends) ----------
  const pct = (r) => (r === null || r === undefined ? '—' : `${Math.round(r * 1000) / 10}%`);
  /** Durations over time, drawn by hand: one dot per finished run (x = created, y = duration), p95 line. */
  function durationChart(series, p95, sampled) {
    const W = 640;
    const H = 160;
    // Room on the left for the longest tick ("1.7 שנ׳" is wider than "1.7 s").
    const pad = { l: 56, r: 8, t: 8, b: 20 };
    const svg = s('svg', {
      class: 'trend-chart',
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      preserveAspectRatio: 'none',
    });
    svg.append(
      s(
        'title',
        {},
        sampled
          ? t('trend_title_sampled', { n: series.length, since: clock(series[0]?.created_at) })
          : t('trend_title', { n: series.length }),
      ),
    );
    if (!series.length) return svg;
    const t0 = Date.parse(series[0].created_at);
    const t1 = Math.max(t0 + 1, Date.parse(series[series.length - 1].created_at));
    const max = Math.max(1, ...series.map((p) => p.duration_ms));
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
    const y = (d) => H - pad.b - (d / max) * (H - pad.t - pad.b);
    svg.append(
      s('line', { class: 'axis', x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
      s('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b }),
      s('text', { class: 'tick', x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end' }, dur(max)),
      s('text', { class: 'tick', x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end' }, '0'),
      s('text', { class: 'tick', x: pad.l, y: H - 4 }, clock(series[0].created_at)),
      s(
        'text',
        { class: 'tick', x: W - pad.r, y: H - 4, 'text-anchor': 'end' },
        clock(series[series.length - 1].created_at),
      ),
    );
    if (p95 !== null && p95 !== undefined)
      svg.append(
        s('line', { class: 'p95', x1: pad.l, y1: y(p95), x2: W - pad.r, y2: y(p95) }),
        s('text', { class: 'tick', x: W - pad.r, y: y(p95) - 3, 'text-anchor': 'end' }, `p95 ${dur(p95)}`),
      );
    for (const p of series) {
      const dot = s('circle', {
        class: `pt s-${p.status}`,
        cx: x(Date.parse(p.created_at)).toFixed(1),
        cy: y(p.duration_ms).toFixed(1),
        r: 3,
      });
      dot.append(
        s(
          'title',
          {},
          `${p.run_id} · ${word(p.status)} · ${units(dur(p.duration_ms))} · ${clock(p.created_at)}`,
        ),
      );
      svg.append(dot);
    }
    return svg;
  }
  async function loadTrends(jobId) {
    const body = $('trend-body');
    if (!body || !jobId) return;
    try {
      const { trends } = await api(`/api/jobs/${encodeURIComponent(jobId)}/trends`);
      const row = (label, w) =>
        h(
          'tr',
          { dataset: { window: label } },
          h('td', {}, label),
          h('td', { class: 'num' }, String(w.total)),
          h('td', { class: 'num' }, pct(w.failure_rate)),
          h('td', { class: 'num' }, dur(w.duration_ms.p50)),
          h('td', { class: 'num' }, dur(w.duration_ms.p95)),
          h('td', { class: 'num' }, dur(w.duration_ms.p99)),
        );
      // Percentiles come from the store's bounded sample (the newest runs): say so when it is not the window.
      const notes = [
        ['24 h', trends.windows['24h']],
        ['7 d', trends.windows['7d']],
      ]
        .filter(([, w]) => w.duration_ms.covers_window === false)
        .map(([label, w]) =>
          h(
            'p',
            { class: 'muted small sample-note', dataset: { window: label } },
            t('sample_note', {
              window: units(label),
              n: w.duration_ms.sample,
              since: clock(w.duration_ms.sample_since),
            }),
          ),
        );
      body.replaceChildren(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid trends' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Window', 'Runs', 'Failure rate', 'p50', 'p95', 'p99'].map((t, i) =>
                  h('th', { class: i ? 'num' : undefined }, t),
                ),
              ),
            ),
            h('tbody', {}, row('24 h', trends.windows['24h']), row('7 d', trends.windows['7d'])),
          ),
        ),
        ...notes,
        durationChart(
          trends.series,
          trends.windows['7d'].duration_ms.p95,
          trends.windows['7d'].duration_ms.covers_window === false,
        ),
      );
    } catch (err) {
      body.replaceChildren(h('p', { class: 'alert' }, why(err)));
    }
  }
  function fillTrendJobs() {
    const sel = $('trend-job');
    if (!sel) return;
    const current = sel.value;
    sel.replaceChildren(...[...jobs.values()].map((j) => h('option', { value: j.job_id }, j.job_id)));
    if (current && jobs.has(current)) sel.value = current;
    void loadTrends(sel.value);
  }

  // ---------- Phone: tables become cards ----------
  /**
   * Copies each column's header text into its cells' `data-label`, so on narrow screens (where the CSS shows
   * every row as a card) each value keeps its name. Watches the tables, so the renderers need not know.
   */
  function labelCells(table) {
    const heads = Array.from(table.querySelectorAll('thead th')).map((th) => th.textContent.trim());
    for (const tr of table.querySelectorAll('tbody tr')) {
      const cells = Array.from(tr.children);
      if (cells.some((c) => c.hasAttribute('colspan'))) continue;
      cells.forEach((c, i) => {
        if (heads[i] && c.dataset.label !== heads[i]) c.dataset.label = heads[i];
      });
    }
  }
  function watchTables() {
    for (const root of [$('jobs-groups'), $('runs-table'), $('audit-table'), $('trend-body')]) {
      if (!root) continue;
      const label = () => {
        for (const t of root.matches('table') ? [root] : root.querySelectorAll('table')) labelCells(t);
      };
      new MutationObserver(label).observe(root, { childList: true, subtree: true });
      label();
    }
  }

  // ---------- misc ----------
  function debounce(fn, ms) {
    let t = null;
    let arg;
    return (a) => {
      arg = a;
      clearTimeout(t);
      t = setTimeout(() => {
        const x = arg instanceof Set ? new Set(arg) : arg;
        if (arg instanceof Set) arg.clear();
        fn(x);
      }, ms);
    };
  }

  function wire() {
    const dlg = $('run-modal');
    $('modal-close').addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', closeModal);
    dlg.addEventListener('click', (ev) => {
      if (ev.target === dlg) dlg.close();
    });
    const form = $('filters');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      hist.filters = historyFilters(new FormData(form));
      hist.cursors = [null];
      hist.page = 0;
      void loadHistory();
    });
    form.addEventListener('reset', () => {
      setTimeout(() => form.requestSubmit(), 0);
    });
    for (const sel of form.querySelectorAll('select'))
      sel.addEventListener('change', () => form.requestSubmit());
    $('older').addEventListener('click', () => {
      if (!hist.next) return;
      hist.cursors[hist.page + 1] = hist.next;
      hist.page++;
      void loadHistory();
    });
    $('newer').addEventListener('click', () => {
      if (hist.page === 0) return;
      hist.page--;
      void loadHistory();
    });
    // Elapsed times and "x min ago" stay fresh.
    setInterval(() => {
      if (active.size) renderActive();
    }, 1000);
    setInterval(renderJobs, 30000);
  }

  // ---------- Operator actions (#12): cancel, pause/resume, stuck badge, audit, confirmations ----------
  /** Asks in the page's confirm dialog; resolves true on "Confirm". */
  function confirmAction(text) {
    const dlg = $('confirm-modal');
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      const done = (ok) => {
        $('confirm-yes').onclick = null;
        $('confirm-no').onclick = null;
        dlg.onclose = null;
        if (dlg.open) dlg.close();
        resolve(ok);
      };
      $('confirm-yes').onclick = () => done(true);
      $('confirm-no').onclick = () => done(false);
      dlg.onclose = () => done(false);
      dlg.showModal();
    });
  }

  /** [stuck badge, cancel button] for a run (each null when not applicable). */
  function opsRunExtras(r) {
    const badge = r.stuck
      ? h(
          'span',
          {
            class: 'badge stuck',
            title: t('stuck_title', {
              reason: reason(r.stuck_reason),
              since: r.stuck_since ? clock(r.stuck_since) : '?',
            }),
          },
          '⚠ stuck',
        )
      : null;
    const cancel =
      !READ_ONLY && (r.status === 'pending' || r.status === 'running')
        ? h(
            'button',
            {
              class: 'btn small ghost',
              type: 'button',
              dataset: { cancel: r.run_id },
              onclick: (ev) => {
                ev.stopPropagation();
                void cancelRun(r);
              },
            },
            'Cancel',
          )
        : null;
    return [badge, cancel];
  }

  async function cancelRun(r) {
    if (!(await confirmAction(t('cancel_confirm', { job: r.job_id, run: r.run_id, status: word(r.status) }))))
      return;
    try {
      const out = await api(`/api/jobs/runs/${encodeURIComponent(r.run_id)}/cancel`, { method: 'POST' });
      toast(t(out.status === 'cancelled' ? 'cancelled' : 'cancelling', { job: r.job_id }), 'ok');
      if (out.status === 'cancelled') upsertActive({ run_id: r.run_id, status: 'cancelled' });
    } catch (err) {
      toast(t('cancel_refused', { why: why(err) }), 'bad');
    }
  }

  /** Paused badge, and Pause/Resume for admins. */
  function opsJobExtras(job) {
    const out = [];
    if (job.paused)
      out.push(
        h(
          'span',
          {
            class: 'badge paused',
            title: t('paused_title', { who: job.paused_by, at: clock(job.paused_at) }),
          },
          'paused',
        ),
      );
    if (!READ_ONLY && ROLE === 'admin') {
      out.push(
        h(
          'button',
          {
            class: 'btn small ghost',
            type: 'button',
            dataset: { pause: job.job_id },
            onclick: () => void togglePause(job),
          },
          job.paused ? 'Resume' : 'Pause',
        ),
      );
    }
    return out;
  }

  async function togglePause(job) {
    const action = job.paused ? 'resume' : 'pause';
    const text = t(`${action}_confirm`, { job: job.name });
    if (!(await confirmAction(text))) return;
    try {
      const out = await api(`/api/jobs/${encodeURIComponent(job.job_id)}/${action}`, { method: 'POST' });
      Object.assign(job, out);
      renderJobs();
      toast(t(out.paused ? 'paused' : 'resumed', { job: job.name }), 'ok');
    } catch (err) {
      toast(t(`${action}_refused`, { why: why(err) }), 'bad');
    }
  }

  async function loadAudit() {
    const tbody = $('audit-body');
    if (!tbody) return;
    try {
      const { entries } = await api('/api/jobs/audit?limit=50');
      tbody.replaceChildren(
        ...(entries.length
          ? entries.map((e) =>
              h(
                'tr',
                { class: `audit-${e.outcome}` },
                h('td', {}, time(e.at, clock(e.at))),
                h('td', { class: 'mono' }, e.actor),
                h('td', {}, e.role || '—'),
                h('td', {}, e.action),
                h('td', { class: 'mono' }, e.job_id || e.run_id || '—'),
                h(
                  'td',
                  {},
                  e.outcome === 'ok'
                    ? t('audit_done')
                    : t('audit_refused', { code: I18N.errors?.[e.code] ?? e.code ?? '' }),
                ),
                h('td', { class: 'muted data' }, e.detail || ''),
              ),
            )
          : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No actions yet.'))]),
      );
    } catch (err) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'alert' }, why(err))));
    }
  }

  /**
   * The history filters as a bulk filter: every field the history sends to GET /api/jobs/runs (job, status,
   * stuck, trigger, user, search, from, to), with the same values, so "all matching" is what the table shows.
   */
  function bulkFilter() {
    const f = {};
    for (const k of ['job_id', 'status', 'stuck', 'trigger', 'user_id', 'q', 'since', 'until']) {
      const v = hist.filters[k];
      if (v) f[k] = String(v);
    }
    return f;
  }

  /** The range a bulk confirmation names, from the server's count: the default week, or the dates asked. */
  function bulkRange(count, filter) {
    if (!filter.since && !filter.until) return t('bulk_range_default');
    const day = (iso) => new Date(iso).toLocaleDateString(LOCALE_TAG);
    return t('bulk_range', {
      from: day(count.since),
      // `until` is exclusive (the start of the day after "To"): name the last day it covers.
      to: count.until ? day(Date.parse(count.until) - 1) : t('bulk_range_now'),
    });
  }

  async function bulkAll(action) {
    const filter = bulkFilter();
    try {
      const count = await api('/api/jobs/runs/bulk', {
        method: 'POST',
        headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
        body: JSON.stringify({ action, filter, dry_run: true }),
      });
      const n = count.more ? t('bulk_more', { n: count.matched }) : count.matched;
      if (!(await confirmAction(t(`bulk_${action}_confirm`, { n, range: bulkRange(count, filter) })))) return;
      const { bulk_id } = await api('/api/jobs/runs/bulk', {
        method: 'POST',
        headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
        body: JSON.stringify({ action, filter }),
      });
      toast(t(`bulk_${action}_started`, { bulk: bulk_id }), 'ok');
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const b = await api(`/api/jobs/runs/bulk/${bulk_id}`);
        if (b.status === 'done') {
          const reasons = Object.entries(b.reasons || {})
            .map(([k, n]) => `${I18N.errors?.[k] ?? k} ${n}`)
            .join(', ');
          toast(
            t(`bulk_${action}_done`, {
              done: b.done,
              refused: b.refused,
              why: reasons ? ` (${reasons})` : '',
            }),
            b.refused ? 'bad' : 'ok',
          );
          void loadHistory();
          return;
        }
      }
    } catch (err) {
      toast(t(`bulk_${action}_refused`, { why: why(err) }), 'bad');
    }
  }

  function wireOps() {
    $('audit-refresh')?.addEventListener('click', () => void loadAudit());
    const bar = $('bulk-actions');
    if (bar && !READ_ONLY) {
      bar.hidden = false;
      $('bulk-retry').addEventListener('click', () => void bulkAll('retry'));
      $('bulk-cancel').addEventListener('click', () => void bulkAll('cancel'));
    }
  }

  async function start() {
    wire();
    watchTables();
    $('trend-job')?.addEventListener('change', (ev) => loadTrends(ev.target.value));
    wireOps();
    void loadAudit();
    connect();
    const loading = Promise.all([loadJobs().then(fillTrendJobs), loadActive(), loadHistory(), loadWorkers()]);
    setInterval(loadWorkers, WORKERS_POLL_MS);
    const deepLink = new URL(location.href).searchParams.get('run_id');
    if (deepLink) void openRun(deepLink);
    await loading.catch((err) => toast(why(err), 'bad'));
  }

  void start();
})();
