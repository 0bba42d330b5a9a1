/**
 * The player's browser script, served as /recordings/player.js (a separate file: the page's CSP forbids
 * inline scripts). Same rules as waitForRecording: poll only on 202 and 503, honour Retry-After, stop at
 * once on 404 and 500, give up after the timeout. It sends no token: the session cookie goes along
 * (credentials: 'same-origin').
 */
export const PLAYER_JS = `(function () {
  'use strict';
  var root = document.getElementById('player');
  var statusEl = document.getElementById('status');
  var audio = document.getElementById('audio');
  var callSid = root.getAttribute('data-call-sid');
  var timeoutMs = Number(root.getAttribute('data-timeout-ms')) || 180000;
  var started = Date.now();
  var fileUrl = '/api/recordings/file/' + encodeURIComponent(callSid);
  function msg(key) { return root.getAttribute('data-msg-' + key) || key; }
  function show(text, kind) {
    statusEl.textContent = text;
    statusEl.setAttribute('data-kind', kind);
    root.setAttribute('data-state', kind);
  }
  function stop(errorType) {
    var text = msg(errorType);
    if (errorType === 'timeout') text = text.replace('{n}', String(Math.round((Date.now() - started) / 1000)));
    show(text, 'error');
    root.setAttribute('data-error-type', errorType);
  }
  function retryAfterMs(res) {
    var h = res.headers.get('Retry-After');
    var s = Number(h);
    if (!isFinite(s) || s < 0) { var d = Date.parse(h || ''); s = isFinite(d) ? (d - Date.now()) / 1000 : 2; }
    return Math.min(Math.max(s, 1), 30) * 1000;
  }
  function later(ms) {
    if (Date.now() + ms - started > timeoutMs) { stop('timeout'); return; }
    setTimeout(poll, ms);
  }
  function poll() {
    fetch(fileUrl, { credentials: 'same-origin', headers: { Range: 'bytes=0-0' }, cache: 'no-store' })
      .then(function (res) {
        if (res.status === 200 || res.status === 206) {
          if (res.body && res.body.cancel) res.body.cancel();
          show('', 'ready');
          audio.src = fileUrl;
          audio.hidden = false;
          return;
        }
        if (res.status === 202) { show(msg('preparing'), 'waiting'); later(retryAfterMs(res)); return; }
        if (res.status === 503) { later(retryAfterMs(res)); return; }
        if (res.status === 404 || res.status === 400) { stop('not_found'); return; }
        if (res.status === 500) {
          return res.json().then(function (b) {
            stop(b && b.error === 'recording_download_failed' ? 'download_failed' : 'worker_offline');
          }, function () { stop('worker_offline'); });
        }
        if (res.status > 500) { stop('worker_offline'); return; }
        show(msg('error') + ' (' + res.status + ')', 'error');
      })
      .catch(function () { stop('worker_offline'); });
  }
  poll();
})();
`;
