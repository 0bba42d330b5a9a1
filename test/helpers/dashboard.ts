import type { RunLog, RunStatus, RunTrigger, RunUpdate } from '../../src/monitor/run';
import { seqFromEventId } from '../../src/monitor/run';
import type { RunStore } from '../../src/monitor/run-store';
import { TEST_TOKEN } from './system';

/** Cookie header value of a Set-Cookie list, for the named cookie. */
export function cookieFrom(setCookie: string[] | string | null | undefined, name: string): string | null {
  const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const hit = list.find((c) => c.startsWith(`${name}=`));
  return hit ? hit.split(';')[0] : null;
}

/** Signs in through the login form like a browser; returns the session cookie and the page's CSRF token. */
export async function login(baseUrl: string, token = TEST_TOKEN): Promise<{ cookie: string; csrf: string }> {
  const form = await fetch(`${baseUrl}/jobs/monitor`);
  const html = await form.text();
  const loginCookie = cookieFrom(form.headers.getSetCookie(), 'jm_login');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!loginCookie || !csrf) throw new Error('login form without CSRF');
  const res = await fetch(`${baseUrl}/jobs/monitor/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
    body: new URLSearchParams({ token, _csrf: csrf, next: '/jobs/monitor' }).toString(),
  });
  const cookie = cookieFrom(res.headers.getSetCookie(), 'jm_session');
  if (res.status !== 303 || !cookie) throw new Error(`login failed: ${res.status}`);
  const page = await (await fetch(`${baseUrl}/jobs/monitor`, { headers: { cookie } })).text();
  const pageCsrf = /data-csrf="([^"]+)"/.exec(page)?.[1];
  if (!pageCsrf) throw new Error('dashboard page without CSRF token');
  return { cookie, csrf: pageCsrf };
}

export interface SeedRun {
  run_id: string;
  job_id: string;
  status: RunStatus;
  created_ms: number;
  duration_ms?: number | null;
  trigger?: RunTrigger;
  user_id?: string | null;
  error?: string | null;
  logs?: Omit<RunLog, 'seq'>[];
  processed?: number;
  total?: number;
  result?: unknown;
}

/** Turns seed descriptions into store updates (one update per run, as a finished tracker would leave it). */
export function seedUpdates(runs: SeedRun[], queue = 'tq'): RunUpdate[] {
  return runs.map((r, i) => {
    const seq = seqFromEventId(`${r.created_ms + (r.duration_ms ?? 0) + 1}-${i}`);
    const started = r.status === 'pending' ? null : new Date(r.created_ms + 5).toISOString();
    const finished = ['completed', 'failed', 'skipped'].includes(r.status);
    return {
      run_id: r.run_id,
      seq,
      identity: {
        job_id: r.job_id,
        queue,
        created_at: new Date(r.created_ms).toISOString(),
        trigger: r.trigger ?? 'scheduled',
        user_id: r.user_id ?? null,
      },
      patch: {
        status: r.status,
        started_at: started,
        ended_at:
          finished && r.duration_ms != null ? new Date(r.created_ms + 5 + r.duration_ms).toISOString() : null,
        duration_ms: finished ? (r.duration_ms ?? null) : null,
        error_message: r.error ?? null,
        attempts: r.status === 'pending' ? 0 : 1,
        progress:
          r.status === 'completed' ? 100 : r.total ? Math.round(((r.processed ?? 0) / r.total) * 100) : 0,
        processed_items: r.processed ?? null,
        total_items: r.total ?? null,
        result: r.result ?? null,
      },
      logs: (r.logs ?? []).map((l) => ({ ...l, seq })),
    };
  });
}

/** Writes runs to the store in batches of 500. */
export async function seedRuns(store: RunStore, runs: SeedRun[], queue = 'tq'): Promise<void> {
  const updates = seedUpdates(runs, queue);
  for (let i = 0; i < updates.length; i += 500) await store.apply(updates.slice(i, i + 500));
}
