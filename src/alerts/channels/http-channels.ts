import { type Alert, alertText, escapeSlack } from '../../monitor/alert-rules';
import { z } from 'zod';
import { type AlertChannel, type Delivery, postJson } from './channel';
import { defineChannel, maybeUrl, str } from './kind';

/**
 * Slack incoming webhook: `{"text": …}` with the severity in front. Every value a run, job or error puts in
 * the text has `&`, `<`, `>` escaped, so a job error saying `<!channel>` or `<url|label>` stays plain text.
 */
export class SlackChannel implements AlertChannel {
  constructor(
    readonly name: string,
    private readonly webhookUrl: string,
    private readonly timeoutMs: number,
  ) {}

  deliveries(alert: Alert): Delivery[] {
    const label = alert.severity_label ?? alert.severity.toUpperCase();
    const text = `*[${label}]* ${alertText(alert, escapeSlack)}`;
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

/** `type: slack`: `webhook_url` (an incoming webhook). */
export const slackChannel = defineChannel({
  type: 'slack',
  schema: z.strictObject({ type: z.literal('slack'), webhook_url: maybeUrl }),
  missing: (s) => (s.webhook_url ? [] : ['webhook_url']),
  build: (name, s, ctx) => new SlackChannel(name, s.webhook_url, ctx.timeoutMs),
});

/** `type: webhook`: `url` (credentials in it are sent as Basic auth) and optional `headers`. */
export const webhookChannel = defineChannel({
  type: 'webhook',
  schema: z.strictObject({
    type: z.literal('webhook'),
    url: maybeUrl,
    headers: z.record(z.string(), str).default({}),
  }),
  missing: (s) => (s.url ? [] : ['url']),
  build: (name, s, ctx) => new WebhookChannel(name, s.url, ctx.timeoutMs, s.headers),
});
