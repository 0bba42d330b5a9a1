import { z } from 'zod';
import { ConfigError, formatPath, loadYamlText, readConfigFile, substituteEnv } from '../config-file';
import { type AlertRule, PLACEHOLDERS, SEVERITIES, unknownPlaceholders } from '../monitor/alert-rules';
import { CHANNEL_KINDS, type ChannelConfig, type ChannelType } from './channels';
import { str } from './channels/kind';

/** The channel types alerts.yml accepts, from {@link CHANNEL_KINDS}. */
export const CHANNEL_TYPES = Object.keys(CHANNEL_KINDS) as ChannelType[];
export type { ChannelConfig, ChannelType };

type ChannelSchema = (typeof CHANNEL_KINDS)[ChannelType]['schema'];
const channelSchemas = Object.values(CHANNEL_KINDS).map((k) => k.schema) as [
  ChannelSchema,
  ...ChannelSchema[],
];
const channelSchema = z.discriminatedUnion('type', channelSchemas, {
  error: `expected type ${CHANNEL_TYPES.join(', ')}`,
});

const ruleSchema = z.strictObject({
  name: str.regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected letters, digits, _ . -' }),
  event_pattern: str.min(1, { error: 'expected an event name or glob' }),
  severity: z.enum(SEVERITIES, { error: `expected ${SEVERITIES.join(', ')}` }),
  cooldown_seconds: z
    .number({ error: 'expected a number of seconds' })
    .min(0, { error: 'expected a number of seconds ≥ 0' }),
  message: str.min(1, { error: 'expected a message template' }),
  /** The message in Hebrew, used instead of `message` when LOCALE=he. */
  message_he: str.min(1, { error: 'expected a message template' }).optional(),
  channels: z
    .array(str, { error: 'expected a list of channel names' })
    .min(1, { error: 'expected at least one channel' }),
});

const fileSchema = z
  .strictObject({
    delivery: z
      .strictObject({
        attempts: z.number().int().min(1).max(20).default(5),
        backoff_ms: z.number().min(0).default(1000),
        timeout_ms: z.number().min(100).default(10_000),
      })
      .default({ attempts: 5, backoff_ms: 1000, timeout_ms: 10_000 }),
    channels: z.record(str, channelSchema).default({ log: { type: 'log' } }),
    alerts: z.array(ruleSchema, { error: 'expected a list of rules' }).default([]),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.alerts.forEach((rule, i) => {
      if (seen.has(rule.name))
        ctx.addIssue({
          code: 'custom',
          path: ['alerts', i, 'name'],
          message: `duplicate rule name "${rule.name}"`,
        });
      seen.add(rule.name);
      for (const field of ['message', 'message_he'] as const) {
        for (const p of unknownPlaceholders(rule[field] ?? '')) {
          ctx.addIssue({
            code: 'custom',
            path: ['alerts', i, field],
            message: `unknown placeholder {${p}}; known: ${PLACEHOLDERS.join(', ')}`,
          });
        }
      }
      rule.channels.forEach((c, j) => {
        if (!file.channels[c])
          ctx.addIssue({
            code: 'custom',
            path: ['alerts', i, 'channels', j],
            message: `unknown channel "${c}"; defined: ${Object.keys(file.channels).join(', ') || 'none'}`,
          });
      });
    });
  });

/** config/alerts.yml, validated. */
export interface AlertsConfig {
  delivery: { attempts: number; backoff_ms: number; timeout_ms: number };
  channels: Record<string, ChannelConfig>;
  alerts: AlertRule[];
}

/**
 * Parses alerts.yml text. `${VAR}` references are filled from `env` first.
 * @throws ConfigError whose lines name the file, the rule (index and name) and the field.
 */
export function parseAlertsConfig(text: string, file: string, env: NodeJS.ProcessEnv): AlertsConfig {
  let doc = loadYamlText(file, text);
  doc = addChannelTypes(substituteEnv(doc ?? {}, env));
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${file}: ${describePath(doc, i.path)}: ${i.message}`);
    throw new ConfigError(problems.join('\n'), problems);
  }
  return parsed.data;
}

/** Reads and parses an alerts file (see {@link parseAlertsConfig}). */
export function loadAlertsConfig(file: string, env: NodeJS.ProcessEnv): AlertsConfig {
  return parseAlertsConfig(readConfigFile(file), file, env);
}

function addChannelTypes(doc: unknown): unknown {
  if (!doc || typeof doc !== 'object') return doc;
  const channels = (doc as { channels?: unknown }).channels;
  if (!channels || typeof channels !== 'object' || Array.isArray(channels)) return doc;
  const typed = Object.fromEntries(
    Object.entries(channels as Record<string, unknown>).map(([name, ch]) => {
      const body = ch ?? {};
      if (
        typeof body === 'object' &&
        !Array.isArray(body) &&
        !('type' in body) &&
        CHANNEL_TYPES.includes(name as ChannelType)
      )
        return [name, { type: name, ...body }];
      return [name, body];
    }),
  );
  return { ...(doc as object), channels: typed };
}

/** `alerts[1] (job_stuck_alert).cooldown_seconds`: the path with the rule's name when it has one. */
function describePath(doc: unknown, path: readonly PropertyKey[]): string {
  const base = formatPath(path);
  if (path[0] !== 'alerts' || typeof path[1] !== 'number') return base;
  const rules = (doc as { alerts?: unknown })?.alerts;
  const name = Array.isArray(rules) ? (rules[path[1]] as { name?: unknown } | undefined)?.name : undefined;
  if (typeof name !== 'string' || !name) return base;
  const head = `alerts[${path[1]}] (${name})`;
  return path.length > 2 ? `${head}.${formatPath(path.slice(2))}` : head;
}
