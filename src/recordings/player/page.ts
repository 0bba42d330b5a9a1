import { esc } from '../../dashboard/pages';
import { PLAYER_MESSAGES, type PlayerLang } from './messages';

/** Content-Security-Policy of the player: no inline script or style, everything from this origin. */
export const PLAYER_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; connect-src 'self'; " +
  "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/**
 * The player page. The call id, language and texts travel in data attributes; the behaviour lives in
 * /recordings/player.js (no inline script, so the CSP can forbid them).
 */
export function playerPage(callSid: string, lang: PlayerLang, timeoutMs: number): string {
  const m = PLAYER_MESSAGES[lang];
  const data = Object.entries(m)
    .map(([k, v]) => ` data-msg-${k}="${esc(v)}"`)
    .join('');
  return `<!doctype html>
<html lang="${lang}" dir="${lang === 'he' ? 'rtl' : 'ltr'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(m.title)}</title>
<link rel="stylesheet" href="/recordings/player.css">
</head>
<body>
<main id="player" data-call-sid="${esc(callSid)}" data-timeout-ms="${timeoutMs}"${data}>
<h1>${esc(m.title)}</h1>
<p id="status" role="status" aria-live="polite">${esc(m.loading)}</p>
<audio id="audio" controls preload="metadata" hidden></audio>
</main>
<script src="/recordings/player.js"></script>
</body>
</html>
`;
}

/** Styles of the player page (served as a file, see PLAYER_CSP). */
export const PLAYER_CSS = `body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2433}
main{max-width:40rem}
#status{padding:.75rem 1rem;border-radius:.5rem;background:#eef2f7}
#status[data-kind=error]{background:#fdecec;color:#8a1c1c}
#status[data-kind=ready]{display:none}
audio{width:100%;margin-top:1rem}
`;
