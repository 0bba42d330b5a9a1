import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestSystem, TEST_TOKEN, type TestSystem } from './system';
import { readFileSync } from 'node:fs';

/** The shipped registry (recording_download + the two cleanup jobs are registered there). */
export const JOBS_YML = readFileSync(join(__dirname, '../../config/jobs.yml'), 'utf8');

export const auth = { Authorization: `Bearer ${TEST_TOKEN}` };

/** A fresh, empty recordings folder. */
export const tempRecordingsDir = () => mkdtempSync(join(tmpdir(), 'jm-rec-'));

/**
 * The fake providers listen on loopback, which downloads refuse by default (SSRF guard): tests allow it.
 */
export const ALLOW_LOOPBACK = { RECORDING_ALLOWED_HOSTS: '127.0.0.1' };

/** Starts a system with the real jobs.yml and a temp RECORDINGS_DIR; loopback providers are allowed. */
export function startRecordingSystem(
  env: Record<string, string> = {},
  workerOverrides?: { stalledInterval?: number; lockDuration?: number },
): Promise<TestSystem> {
  return startTestSystem(
    {
      RECORDINGS_DIR: tempRecordingsDir(),
      RECORDING_RETRY_AFTER_SECONDS: '1',
      ...ALLOW_LOOPBACK,
      ...env,
    },
    { jobsYml: JOBS_YML, workerOverrides },
  );
}

/** Raw HTTP GET (no URL normalisation, so `..` and `%2F` reach the server as sent). */
export async function rawGet(
  base: string,
  path: string,
  headers: Record<string, string> = auth,
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const http = await import('node:http');
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path, method: 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks) });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** JSON body of a raw response. */
export const json = (r: { body: Buffer }) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

/** Registers a call's recording URL through the API. */
export async function putUrl(sys: TestSystem, callSid: string, url: string): Promise<Response> {
  return fetch(`${sys.url}/api/recordings/${callSid}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ recording_url: url }),
  });
}
