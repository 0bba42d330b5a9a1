import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError, csrfFailed } from '../monitor/errors';
import type { QueueSet } from '../queues/queue-set';
import type { SessionManager } from './session';

export const BULL_BOARD_PATH = '/jobs/queues';

/**
 * Mounts Bull Board at /jobs/queues with every queue of the system, behind the dashboard session:
 * anonymous page requests are sent to the login form, anonymous API calls get 401, and unsafe methods
 * must come from this origin. `readOnly` turns Bull Board's readOnlyMode on (no retry/clean/remove).
 */
export function mountBullBoard(
  app: Express,
  o: { queues: QueueSet; sessions: SessionManager; readOnly: boolean; headers: RequestHandler },
): void {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: o.queues
      .all()
      .map((q) => new BullMQAdapter(q, { readOnlyMode: o.readOnly, allowRetries: !o.readOnly })),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Jobs Monitor',
        hideDocsLink: true,
        miscLinks: [{ text: '← Dashboard', url: '/jobs/monitor' }],
      },
    },
  });
  const guard = (req: Request, res: Response, next: NextFunction) => {
    if (!o.sessions.read(req)) {
      if (req.path.startsWith('/api/'))
        return next(new AppError('unauthorized', 401, 'sign in at /jobs/monitor'));
      return res.redirect(303, `/jobs/monitor/login?next=${encodeURIComponent(BULL_BOARD_PATH)}`);
    }
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !sameOrigin(req)) return next(csrfFailed());
    next();
  };
  app.use(BULL_BOARD_PATH, o.headers, guard, serverAdapter.getRouter());
}

/** True when Origin (or, without it, Referer) names this host. */
function sameOrigin(req: Request): boolean {
  const source = req.get('origin') ?? req.get('referer');
  if (!source) return false;
  try {
    return new URL(source).host === req.get('host');
  } catch {
    return false;
  }
}
