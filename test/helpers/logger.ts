import { Writable } from 'node:stream';
import pino from 'pino';
import { REDACT } from '../../src/logger';

/** A pino logger that keeps every line in memory, so tests can assert on log events. */
export function memoryLogger(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const s = chunk.toString();
      raw.push(s);
      for (const l of s.split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const logger = pino({ level, redact: REDACT }, stream);
  return { logger, lines, raw, events: () => lines.map((l) => l.msg as string) };
}
