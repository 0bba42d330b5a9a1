/**
 * Runs every bench/*.ts (except this file) one after another, each in its own process
 * (`npx tsx bench/<name>.ts`), streams their output, and ends with a summary of their last lines.
 * Usage: npm run bench  (BENCH_ONLY=a,b to run a subset; every BENCH_* variable is passed through)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = __dirname;

/** The bench names found next to this file, alphabetical. */
export function discoverBenches(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'run-all.ts' && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function runOne(name: string): Promise<{ last: string; code: number | null; secs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', join('bench', `${name}.ts`)], {
      cwd: join(dir, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      const lines = tail.split('\n').filter((l) => l.trim());
      resolve({ last: lines[lines.length - 1] ?? '(no output)', code, secs: (Date.now() - started) / 1000 });
    });
  });
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const names = discoverBenches().filter((n) => !only || only.includes(n));
  const summary: string[] = [];
  for (const name of names) {
    console.log(`\n=== bench/${name}.ts ===`);
    const res = await runOne(name);
    const status = res.code === 0 ? '' : `  [exit ${res.code}]`;
    summary.push(`${res.last}${status}  (${res.secs.toFixed(0)} s)`);
  }
  console.log('\n=== summary ===');
  for (const line of summary) console.log(line);
  const failed = summary.filter((l) => / MISS|\[exit/.test(l)).length;
  console.log(`${names.length} benches, ${failed} missed or failed`);
}

void main();
