import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';

/** A configuration problem, with a message that names the file, the field and the reason. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The items of a comma list, trimmed, empty ones dropped: `' a, b,,'` → `['a', 'b']`. */
export function splitCommaList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A comma-list setting (`ROLES=api,worker`, `TELEGRAM_ADMIN_IDS=1,2`): a string (`default` when unset, else
 * empty) read with {@link splitCommaList}, each item checked by `item`; `min` items at least. Every comma list
 * of the configuration is this schema, so they all split, trim and report errors (`ROLES[1]: …`) alike.
 */
export function commaList<T extends z.ZodType<unknown, string> = z.ZodString>(
  item?: T,
  opts: { default?: string; min?: number; error?: string } = {},
) {
  const items = z.array((item ?? z.string()) as T);
  return z
    .string()
    .default(opts.default ?? '')
    .transform(splitCommaList)
    .pipe(opts.min ? items.min(opts.min, opts.error ? { error: opts.error } : undefined) : items);
}

/** `jobs[2].interval_seconds` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/** Reads a config file's text. @throws ConfigError naming the file and why it can't be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Turns zod issues into `file: path: reason` lines. */
export function formatIssues(file: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${file}: ${formatPath(i.path)}: ${i.message}`);
}

/**
 * Reads a YAML file and validates it with a zod schema.
 * @throws ConfigError naming the file, the path inside it and the reason.
 */
export function loadYamlFile<S extends z.ZodType>(
  file: string,
  schema: S,
  env?: NodeJS.ProcessEnv,
): z.output<S> {
  return parseYaml(file, readConfigFile(file), schema, env);
}

/**
 * Parses YAML text into plain data (core schema: no custom tags).
 * @throws ConfigError naming the file, line and column of a syntax error.
 */
export function loadYamlText(file: string, text: string): unknown {
  try {
    return yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: file });
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number; column: number } };
    const where = e.mark ? `line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '(document)';
    throw new ConfigError(`${file}: ${where}: invalid YAML: ${e.reason ?? String(err)}`);
  }
}

/** Parses YAML text (see {@link loadYamlFile}); `${VAR}` references are filled from `env` when given. */
export function parseYaml<S extends z.ZodType>(
  file: string,
  text: string,
  schema: S,
  env?: NodeJS.ProcessEnv,
): z.output<S> {
  let doc = loadYamlText(file, text);
  if (env) doc = substituteEnv(doc, env);
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    const problems = formatIssues(file, parsed.error.issues);
    throw new ConfigError(problems.join('\n'), problems);
  }
  return parsed.data;
}

/** Replaces `${NAME}` in every string of a parsed document; an unset variable becomes ''. */
export function substituteEnv(doc: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof doc === 'string')
    return doc.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name] ?? '');
  if (Array.isArray(doc)) return doc.map((d) => substituteEnv(d, env));
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, substituteEnv(v, env)]));
  }
  return doc;
}
