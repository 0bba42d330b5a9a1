import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import type { Request, Response } from 'express';
import type { StoredRecording } from './file-store';

/**
 * Parses a single `Range: bytes=a-b` (also `a-` and `-n`) against a size. Returns null when the header
 * is absent, has several ranges or is not bytes (serve the whole file), 'unsatisfiable' for a range past
 * the end.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Audio types served as such; any other stored type is served as application/octet-stream. */
const AUDIO_TYPES: Record<string, string> = {
  'audio/mpeg': '.mp3',
  'audio/mp3': '.mp3',
  'audio/wav': '.wav',
  'audio/wave': '.wav',
  'audio/x-wav': '.wav',
  'audio/vnd.wave': '.wav',
  'audio/ogg': '.ogg',
  'audio/opus': '.opus',
  'audio/webm': '.weba',
  'audio/mp4': '.m4a',
  'audio/x-m4a': '.m4a',
  'audio/aac': '.aac',
  'audio/flac': '.flac',
  'audio/x-flac': '.flac',
  'audio/3gpp': '.3gp',
  'audio/amr': '.amr',
  'audio/basic': '.au',
};

/**
 * The Content-Type and file extension a stored recording is served with: its own type when it is on the
 * audio allow-list (parameters dropped), else `application/octet-stream` (never HTML, SVG or script).
 */
export function servedType(stored: string): { type: string; ext: string } {
  const type = stored.split(';')[0].trim().toLowerCase();
  const ext = AUDIO_TYPES[type];
  return ext ? { type, ext } : { type: 'application/octet-stream', ext: '.bin' };
}

/** CSP of file responses: nothing may run or load, even if a browser renders the bytes. */
export const FILE_CSP = "default-src 'none'; sandbox";

/**
 * Streams a stored recording: 200 with Content-Type, Content-Length, ETag and Accept-Ranges, 206 for a
 * satisfiable Range (416 otherwise), 304 for a matching If-None-Match. An If-Range that does not match
 * the ETag gets the whole file. Only audio types are served as such (see {@link servedType}), with
 * `nosniff`, a sandboxing CSP and a Content-Disposition naming `<call_sid>.<ext>`. A read error once the
 * headers are sent (the file removed meanwhile, a disk error) cuts the response and goes to `onReadError`.
 */
export function serveRecording(
  req: Request,
  res: Response,
  file: StoredRecording,
  callSid: string,
  onReadError: (err: unknown) => void,
): void {
  const { type, ext } = servedType(file.contentType);
  res.set({
    'Content-Type': type,
    'X-Content-Type-Options': 'nosniff',
    // callSid matched ^[A-Za-z0-9_-]{1,64}$, so the name needs no quoting beyond the quotes.
    'Content-Disposition': `inline; filename="${callSid}${ext}"`,
    'Content-Security-Policy': FILE_CSP,
    ETag: file.etag,
    'Accept-Ranges': 'bytes',
    'Last-Modified': new Date(file.mtimeMs).toUTCString(),
    'Cache-Control': 'private, max-age=3600',
  });
  const inm = req.get('if-none-match');
  if (inm?.split(',').some((t) => t.trim() === file.etag || t.trim() === '*')) {
    res.status(304).end();
    return;
  }
  const ifRange = req.get('if-range');
  const range = ifRange && ifRange !== file.etag ? null : parseRange(req.get('range'), file.size);
  if (range === 'unsatisfiable') {
    res.status(416).set('Content-Range', `bytes */${file.size}`).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: file.size - 1 };
  if (range) res.status(206).set('Content-Range', `bytes ${start}-${end}/${file.size}`);
  else res.status(200);
  res.set('Content-Length', String(file.size === 0 ? 0 : end - start + 1));
  if (req.method === 'HEAD' || file.size === 0) {
    res.end();
    return;
  }
  // pipeline closes the file when the client goes away mid-file (pipe() would keep it open until GC) and cuts
  // the response when the read fails.
  pipeline(createReadStream(file.path, { start, end }), res, (err) => {
    if (!err || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    onReadError(err);
  });
}
