import { createReadStream } from 'node:fs';
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

/**
 * Streams a stored recording: 200 with Content-Type, Content-Length, ETag and Accept-Ranges, 206 for a
 * satisfiable Range (416 otherwise), 304 for a matching If-None-Match. An If-Range that does not match
 * the ETag gets the whole file.
 */
export function serveRecording(req: Request, res: Response, file: StoredRecording): void {
  res.set({
    'Content-Type': file.contentType,
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
  const stream = createReadStream(file.path, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
