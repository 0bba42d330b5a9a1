import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express';
import { bullBoardForbidden, csrfFailed, forbiddenRole, signInRequired } from '../api/http-errors';
import type { QueueSet } from '../queues/queue-set';
import type { SessionManager } from './session';

export const BULL_BOARD_PATH = '/jobs/queues';

/**
 * Bull Board (9.10) routes that would put a job in a queue, or change a job or a schedule, past the API's
 * rules (registry names and schedules, payload validation, `allow_concurrent`, paused jobs, the recordings
 * `PUT`): they answer 403 `bull_board_forbidden`. They are matched by an Express router, with the same path
 * rules as Bull Board's own router (case-insensitive, a trailing `/` allowed). Retry, promote, clean,
 * remove and queue pause stay (admins only, see {@link mountBullBoard}).
 */
export const REFUSED_BULL_BOARD_ROUTES: readonly { method: 'post' | 'patch' | 'put'; path: string }[] = [
  // Enqueue: any name, payload and options; a scheduler's job now (past allow_concurrent and job pauses).
  { method: 'post', path: '/api/queues/:queueName/add' },
  { method: 'put', path: '/api/queues/:queueName/job-schedulers/:schedulerId/run' },
  // Edit a job: its data, its delay, its priority.
  { method: 'patch', path: '/api/queues/:queueName/:jobId/update-data' },
  { method: 'patch', path: '/api/queues/:queueName/:jobId/delay' },
  { method: 'patch', path: '/api/queues/:queueName/:jobId/priority' },
  // Edit a schedule the scheduler keeps in step with jobs.yml (pause a job through the API instead).
  { method: 'patch', path: '/api/queues/:queueName/job-schedulers/:schedulerId' },
  { method: 'put', path: '/api/queues/:queueName/job-schedulers/:schedulerId/remove' },
];

function refusals(): Router {
  const r = Router();
  const refuse: RequestHandler = (_req, _res, next) => next(bullBoardForbidden());
  for (const route of REFUSED_BULL_BOARD_ROUTES) r[route.method](route.path, refuse);
  return r;
}

/**
 * Mounts Bull Board at /jobs/queues with every queue of the system, behind the dashboard session:
 * anonymous page requests are sent to the login form, anonymous API calls get 401, and unsafe methods
 * must come from this origin. `readOnly` turns Bull Board's readOnlyMode on (no retry/clean/remove). The
 * routes that add, run or edit jobs and schedules are always refused (see {@link REFUSED_BULL_BOARD_ROUTES}).
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
  const guard = async (req: Request, res: Response, next: NextFunction) => {
    const session = await o.sessions.load(req);
    if (!session) {
      if (req.path.startsWith('/api/')) return next(signInRequired());
      return res.redirect(303, `/jobs/monitor/login?next=${encodeURIComponent(BULL_BOARD_PATH)}`);
    }
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(req.method);
    if (unsafe && !sameOrigin(req)) return next(csrfFailed());
    // Bull Board's own actions (retry, clean, remove) bypass the audit log: only admins may use them.
    const role = session.who?.role ?? 'admin';
    if (unsafe && role !== 'admin') return next(forbiddenRole('admin', role));
    next();
  };
  app.use(BULL_BOARD_PATH, o.headers, guard, refusals(), withoutExternalFonts, serverAdapter.getRouter());
}

/** Bull Board's page `<link>`s Google Fonts; the CSP refuses it (and pages must not call out), so it goes. */
export function stripExternalFonts(html: string): string {
  return html.replace(/<link[^>]+href="https:\/\/fonts\.(?:googleapis|gstatic)\.com[^"]*"[^>]*>\s*/g, '');
}

/**
 * Renders Bull Board's page without its external font link (its own CSS falls back to the system fonts).
 * `res.render` is wrapped on this response only; Bull Board's JSON API is untouched.
 */
const withoutExternalFonts: RequestHandler = (_req, res, next) => {
  const render = res.render.bind(res);
  res.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (err: Error | null, html?: string) => {
      if (err) return next(err);
      res.send(stripExternalFonts(html ?? ''));
    })) as Response['render'];
  next();
};

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
