import type { Alert } from '../../monitor/alert-rules';
import { type AlertChannel, type Delivery, postJson } from './channel';

/** Slack incoming webhook: `{"text": …}` with the severity in front. */
export class SlackChannel implements AlertChannel {
  constructor(
    readonly name: string,
    private readonly webhookUrl: string,
    private readonly timeoutMs: number,
  ) {}

  deliveries(alert: Alert): Delivery[] {
    const text = `*[${alert.severity.toUpperCase()}]* ${alert.text}`;
    return [{ target: this.name, send: () => postJson(this.webhookUrl, { text }, this.timeoutMs) }];
  }
}

/** Generic webhook: POSTs the whole alert as JSON. */
export class WebhookChannel implements AlertChannel {
  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly headers: Record<string, string> = {},
  ) {}

  deliveries(alert: Alert): Delivery[] {
    const body = {
      rule: alert.rule,
      severity: alert.severity,
      event: alert.event,
      message: alert.text,
      link: alert.link,
      fields: alert.fields,
      time: new Date(alert.time).toISOString(),
    };
    return [{ target: this.name, send: () => postJson(this.url, body, this.timeoutMs, this.headers) }];
  }
}
