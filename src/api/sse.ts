import type { Request, Response } from 'express';
import { streamUnavailable } from './http-errors';
import type { RunEvent, RunEventHub } from '../monitor/run-events';

export interface StreamOptions {
  heartbeatMs: number;
  /** Open streams one process accepts; more get 503. */
  maxClients?: number;
  /** What every event goes through before it is sent (the API's redaction of runs). */
  redact?: (ev: RunEvent) => RunEvent;
}

/** Formats one Server-Sent Event. `data` is JSON on one line, so no payload can break the framing. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `GET /api/jobs/stream`: Server-Sent Events of run changes (`created`, `progress`, `log`, `finished`, each
 * with `{type, run_id, job_id, run, logs?}`) from the hub, plus `heartbeat` events every `heartbeatMs`.
 * The stream ends when the client goes away or the server shuts down.
 */
export function streamHandler(hub: RunEventHub, opts: StreamOptions) {
  const max = opts.maxClients ?? 500;
  return async (req: Request, res: Response) => {
    if (hub.size() >= max) throw streamUnavailable();
    let open = false;
    const redact = opts.redact ?? ((ev: RunEvent) => ev);
    const send = (ev: RunEvent) => {
      if (open) res.write(sseFrame(ev.type, redact(ev)));
    };
    // A client may leave while the subscription is being set up: remember it, so its listener goes again.
    let gone = false;
    req.once('close', () => {
      gone = true;
    });
    let unlisten: () => void;
    try {
      unlisten = await hub.listen(send, () => res.end());
    } catch {
      // The hub logged why (run_events_subscribe_failed); the client gets a 503 to retry.
      throw streamUnavailable();
    }
    if (gone) {
      unlisten();
      return;
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`retry: 3000\n${sseFrame('ready', { time: new Date().toISOString() })}`);
    open = true;
    const heartbeat = setInterval(() => {
      res.write(sseFrame('heartbeat', { time: new Date().toISOString() }));
    }, opts.heartbeatMs);
    const cleanup = () => {
      open = false;
      clearInterval(heartbeat);
      unlisten();
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
  };
}
