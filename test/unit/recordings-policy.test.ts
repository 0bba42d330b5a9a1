import { decide, PROVIDER_NOT_FOUND } from '../../src/recordings/policy';
import { describeStuck, type StuckInput, stuckVerdict } from '../../src/monitor/stuck-rules';
import { parseRange } from '../../src/recordings/serve-file';
import { pickLang } from '../../src/recordings/player/messages';
import { retryAfterMs } from '../../src/recordings/client';
import { parseDownloadRunId, downloadRunId } from '../../src/recordings/call-sid';

const NOW = Date.parse('2025-01-01T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

/** The one stuck definition (src/monitor/stuck-rules.ts) as the recordings use it: threshold in seconds. */
const isRunStuck = (run: StuckInput, now: number, timeoutSeconds = 300) => {
  const v = stuckVerdict(run, now, timeoutSeconds * 1000);
  return v ? { stuck: true, reason: describeStuck(v) } : { stuck: false, reason: '' };
};

describe('stuck download runs (the one stuck definition, recording_download threshold)', () => {
  it('a queued run is stuck once created_at is older than the timeout (no worker took it)', () => {
    expect(isRunStuck({ status: 'pending', created_at: ago(299), started_at: null }, NOW)).toEqual({
      stuck: false,
      reason: '',
    });
    expect(isRunStuck({ status: 'pending', created_at: ago(301), started_at: null }, NOW)).toEqual({
      stuck: true,
      reason: 'queued 301 s without worker pickup',
    });
  });

  it('a running run is judged by started_at, not created_at', () => {
    // Waited long in the queue, but started recently: not stuck.
    expect(isRunStuck({ status: 'running', created_at: ago(3600), started_at: ago(10) }, NOW).stuck).toBe(
      false,
    );
    expect(isRunStuck({ status: 'running', created_at: ago(3600), started_at: ago(400) }, NOW)).toEqual({
      stuck: true,
      reason: 'running 400 s without completion',
    });
  });

  it('running without started_at (an inconsistent record) is judged by created_at', () => {
    expect(isRunStuck({ status: 'running', created_at: ago(1), started_at: null }, NOW).stuck).toBe(false);
    expect(isRunStuck({ status: 'running', created_at: ago(400), started_at: null }, NOW)).toEqual({
      stuck: true,
      reason: 'running 400 s without completion',
    });
  });

  it('a queued run waiting for its retry after an attempt is not stuck (same rule as the monitor)', () => {
    const retrying = { status: 'pending' as const, created_at: ago(900), started_at: ago(800), attempts: 1 };
    expect(isRunStuck(retrying, NOW).stuck).toBe(false);
  });

  it('finished runs are never stuck, and the timeout is configurable', () => {
    for (const status of ['completed', 'failed', 'skipped'] as const) {
      expect(isRunStuck({ status, created_at: ago(99_999), started_at: null }, NOW).stuck).toBe(false);
    }
    expect(isRunStuck({ status: 'pending', created_at: ago(6), started_at: null }, NOW, 5).stuck).toBe(true);
  });
});

describe('decide (fail-fast policy)', () => {
  const limits = { timeoutSeconds: 300, maxAttempts: 3 };
  const base = { url: 'https://p/x.wav', generation: 1, attempts: 0 };
  const run = (status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped', extra = {}) => ({
    status,
    created_at: ago(10),
    started_at: status === 'running' ? ago(5) : null,
    error_message: null,
    ...extra,
  });

  it('no URL is 404 whatever else is known', () => {
    expect(decide({ ...base, url: null, run: null }, NOW, limits)).toEqual({ kind: 'not_found' });
  });

  it('the first request starts generation 1 without counting an attempt', () => {
    expect(decide({ ...base, generation: 0, run: null }, NOW, limits)).toEqual({
      kind: 'advance',
      count: false,
      failReason: null,
    });
  });

  it('a fresh queued or running run means wait', () => {
    expect(decide({ ...base, run: run('pending') }, NOW, limits)).toEqual({ kind: 'wait', status: 'queued' });
    expect(decide({ ...base, run: run('running') }, NOW, limits)).toEqual({
      kind: 'wait',
      status: 'running',
    });
  });

  it('a stuck run is failed and retried as a counted attempt', () => {
    expect(decide({ ...base, run: run('pending', { created_at: ago(301) }) }, NOW, limits)).toEqual({
      kind: 'advance',
      count: true,
      failReason: 'queued 301 s without worker pickup',
    });
  });

  it('a run failed by the worker (lost, timed out) counts as an attempt; a provider 404 is not_found', () => {
    for (const error_message of ['timed out after 300 s', 'job stalled more than allowable limit', null]) {
      expect(decide({ ...base, run: run('failed', { error_message }) }, NOW, limits)).toEqual({
        kind: 'advance',
        count: true,
        failReason: null,
      });
    }
    const gone = run('failed', { error_message: `${PROVIDER_NOT_FOUND}: provider answered 404` });
    expect(decide({ ...base, run: gone }, NOW, limits)).toEqual({ kind: 'not_found' });
  });

  it('a provider or URL that failed for good is final: failed with the code as reason, nothing retried', () => {
    for (const [message, reason] of [
      ['provider_error: provider answered 503', 'provider_error'],
      ['recording_too_large: more than 10 bytes', 'recording_too_large'],
      ['provider_rejected: provider answered 403', 'provider_rejected'],
      ['recording_url_not_allowed: 10.0.0.1 is a private address', 'recording_url_not_allowed'],
      ['download_timeout: not done within 2000 ms', 'download_timeout'],
    ]) {
      expect(decide({ ...base, run: run('failed', { error_message: message }) }, NOW, limits)).toEqual({
        kind: 'failed',
        reason,
        detail: message,
      });
    }
  });

  it('past the maximum attempts the answer is offline (500) and nothing is enqueued', () => {
    expect(decide({ ...base, attempts: 3, run: run('pending') }, NOW, limits).kind).toBe('wait');
    expect(decide({ ...base, attempts: 4, run: run('pending') }, NOW, limits)).toEqual({ kind: 'offline' });
  });

  it('a finished run whose file is gone starts a new download without counting', () => {
    expect(decide({ ...base, run: run('completed') }, NOW, limits)).toEqual({
      kind: 'advance',
      count: false,
      failReason: null,
    });
  });

  it('a generation without a stored run is (re-)enqueued idempotently', () => {
    expect(decide({ ...base, generation: 2, run: null }, NOW, limits)).toEqual({
      kind: 'enqueue',
      generation: 2,
    });
  });
});

describe('helpers', () => {
  it('parseRange handles a-b, a-, -n, past-the-end and ignores multi-ranges', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange(undefined, 100)).toBeNull();
  });

  it('pickLang: ?lang wins, then the browser language, English by default', () => {
    expect(pickLang('he', 'en-US')).toBe('he');
    expect(pickLang(undefined, 'he-IL,he;q=0.9,en;q=0.8')).toBe('he');
    expect(pickLang(undefined, 'fr-FR,en;q=0.5')).toBe('en');
    expect(pickLang('xx', undefined)).toBe('en');
  });

  it('retryAfterMs reads seconds or a date and stays within 1..30 s', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0')).toBe(1000);
    expect(retryAfterMs('3600')).toBe(30_000);
    expect(retryAfterMs(null)).toBe(2000);
    expect(retryAfterMs(new Date(NOW + 5000).toUTCString(), NOW)).toBe(5000);
  });

  it('download run ids are deterministic per call and generation and parse back', () => {
    expect(downloadRunId('CA-1_x', 3)).toBe('rdl-CA-1_x-3');
    expect(parseDownloadRunId('rdl-CA-1_x-3')).toEqual({ callSid: 'CA-1_x', generation: 3 });
    expect(parseDownloadRunId('m0123456789ab')).toBeNull();
  });
});
