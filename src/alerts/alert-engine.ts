import { GrammyError } from 'grammy';
import type { Logger } from 'pino';
import type { Lifecycle } from '../launcher';
import {
  type Alert,
  cooldownSubject,
  matchesPattern,
  renderAlert,
  retryDelayMs,
} from '../monitor/alert-rules';
import type { MonitorEvent } from '../monitor/events';
import type { AlertsConfig } from './alerts-config';
import { type AlertChannel, type Delivery, DeliveryError } from './channels/channel';

/** Cooldowns shared by every process (Redis SET NX PX in production). */
export interface Cooldowns {
  /** True when the key was free (and is now taken for `ms`); false while a cooldown runs. */
  take(key: string, ms: number): Promise<boolean>;
}

/** Outcome of one rule × channel: sent, failed after every retry, or suppressed by the cooldown. */
export type AlertOutcome = 'sent' | 'failed' | 'suppressed';

/**
 * A refusal that the same request will get again: a 4xx answer other than 408 (timeout), 425 (too early) and
 * 429 (rate limit, retried after its wait) — a wrong URL or token, a chat the bot may not write to.
 */
export function isPermanent(err: unknown): boolean {
  const status =
    err instanceof DeliveryError ? err.status : err instanceof GrammyError ? err.error_code : undefined;
  return status !== undefined && status >= 400 && status < 500 && ![408, 425, 429].includes(status);
}

export interface AlertEngineOptions {
  config: AlertsConfig;
  channels: Map<string, AlertChannel>;
  cooldowns: Cooldowns;
  logger: Logger;
  webappUrl?: string;
  /** LOCALE: rules' `message_he` is used when it is `he`. */
  locale?: 'en' | 'he';
  /** Counts outcomes (alerts_sent_total); must not throw. */
  onOutcome?: (rule: string, channel: string, outcome: AlertOutcome) => void;
  /** Events older than this are dropped unsent (a monitor that was down for hours doesn't flood). */
  maxEventAgeMs?: number;
  now?: () => number;
}

/**
 * Turns events into alerts: every rule whose pattern matches, unless its cooldown for that job runs, sends
 * its message to its enabled channels. Delivery happens in the background with retries and backoff; a
 * failing channel is logged and counted and never blocks the next event or throws. A part of the monitor role
 * ({@link Lifecycle}): nothing to start (events are handed to {@link handle}), deliveries to finish on stop.
 */
export class AlertEngine implements Lifecycle {
  readonly name = 'alerts';
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly now: () => number;

  constructor(private readonly opts: AlertEngineOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Handles one event: cooldowns are taken before this resolves; deliveries continue in the background. */
  async handle(ev: MonitorEvent): Promise<void> {
    const age = this.now() - ev.time;
    if (age > (this.opts.maxEventAgeMs ?? 3_600_000)) {
      this.opts.logger.warn({ event: ev.name, event_id: ev.id, age_ms: age }, 'alert_event_expired');
      return;
    }
    for (const rule of this.opts.config.alerts) {
      if (!matchesPattern(rule.event_pattern, ev.name)) continue;
      const channels = rule.channels.filter((c) => this.opts.channels.has(c));
      if (rule.cooldown_seconds > 0) {
        const key = `${rule.name}:${cooldownSubject(ev)}`;
        if (!(await this.opts.cooldowns.take(key, rule.cooldown_seconds * 1000))) {
          this.opts.logger.info(
            { rule: rule.name, event: ev.name, subject: cooldownSubject(ev) },
            'alert_suppressed_cooldown',
          );
          for (const c of channels) this.opts.onOutcome?.(rule.name, c, 'suppressed');
          continue;
        }
      }
      const alert = renderAlert(rule, ev, this.opts.webappUrl, this.opts.locale);
      if (channels.length === 0) {
        this.opts.logger.warn({ rule: rule.name, event: ev.name }, 'alert_no_enabled_channel');
      }
      for (const name of channels) {
        const channel = this.opts.channels.get(name) as AlertChannel;
        this.track(this.deliverAll(alert, channel));
      }
    }
  }

  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async start(): Promise<void> {}

  /**
   * Cancels pending retries and waits until `deadline` (epoch ms; default 2 s from now) for deliveries in
   * progress; what is still sending then is left to finish or fail on its own.
   */
  async stop(deadline = Date.now() + 2000): Promise<void> {
    this.abort.abort();
    let t: NodeJS.Timeout | undefined;
    const ms = Math.max(0, deadline - Date.now());
    await Promise.race([this.idle(), new Promise((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async deliverAll(alert: Alert, channel: AlertChannel): Promise<void> {
    let deliveries: Delivery[];
    try {
      deliveries = channel.deliveries(alert);
    } catch (err) {
      this.failed(alert, channel.name, channel.name, err as Error, 0);
      return;
    }
    const results = await Promise.all(deliveries.map((d) => this.deliver(alert, channel.name, d)));
    this.opts.onOutcome?.(alert.rule, channel.name, results.every(Boolean) ? 'sent' : 'failed');
  }

  /** One delivery with retries; resolves true when it got through. Never rejects. */
  private async deliver(alert: Alert, channel: string, d: Delivery): Promise<boolean> {
    const { attempts, backoff_ms } = this.opts.config.delivery;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await d.send();
        this.opts.logger.info({ rule: alert.rule, channel, target: d.target, attempt }, 'alert_sent');
        return true;
      } catch (err) {
        if (attempt === attempts || this.abort.signal.aborted || isPermanent(err)) {
          this.failed(alert, channel, d.target, err, attempt);
          return false;
        }
        const delay = retryDelayMs(attempt, backoff_ms);
        this.opts.logger.warn(
          {
            rule: alert.rule,
            channel,
            target: d.target,
            attempt,
            err,
            retry_in_ms: delay,
          },
          'alert_delivery_retry',
        );
        if (!(await this.sleep(delay))) {
          this.failed(alert, channel, d.target, err, attempt);
          return false;
        }
      }
    }
    return false;
  }

  /** Logged as `{ err }` (stack kept); the logger redacts URLs and secrets in it (src/logger.ts). */
  private failed(alert: Alert, channel: string, target: string, err: unknown, attempts: number): void {
    this.opts.logger.error({ rule: alert.rule, channel, target, attempts, err }, 'alert_delivery_failed');
  }

  /** Waits `ms`; false when the engine was stopped meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.abort.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
