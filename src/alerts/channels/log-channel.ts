import type { Logger } from 'pino';
import { z } from 'zod';
import type { AlertChannel, Delivery } from './channel';
import { defineChannel } from './kind';

/** Writes the alert to the log (`alert_fired`); always available. */
export class LogChannel implements AlertChannel {
  constructor(
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  deliveries(alert: Parameters<AlertChannel['deliveries']>[0]): Delivery[] {
    return [
      {
        target: this.name,
        send: async () => {
          this.logger.warn(
            { rule: alert.rule, severity: alert.severity, event: alert.event, text: alert.text },
            'alert_fired',
          );
        },
      },
    ];
  }
}

/** `type: log`: no settings. */
export const logChannel = defineChannel({
  type: 'log',
  schema: z.strictObject({ type: z.literal('log') }),
  missing: () => [],
  build: (name, _settings, ctx) => new LogChannel(name, ctx.logger),
});
