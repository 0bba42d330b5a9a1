#!/usr/bin/env node
// The npm registry mirror this project is developed against does not carry every platform's
// prebuilt binary (for example @biomejs/cli-darwin-arm64), so `npm install` leaves those optional
// packages out of package-lock.json and `npm ci` then refuses the lockfile ("Missing: … from lock
// file"). This script restores a lock entry for each optional dependency a locked package declares
// but the lockfile lacks, marked optional with the platform read from its name, exactly as npm
// records it on a machine whose registry has them. Run it after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;

const OS = ['android', 'darwin', 'freebsd', 'linux', 'win32', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = { x64: 'x64', arm64: 'arm64', arm: 'arm', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.map((p) => CPU[p]).find(Boolean);
  const libc = parts.includes('musl') || parts.includes('musleabihf') ? 'musl' : parts.includes('gnu') || parts.includes('gnueabihf') ? 'glibc' : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = path === '' ? '' : `${path}/`;
    const nested = `${base}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[hoisted]) continue;
    if (!/^\d+\.\d+\.\d+/.test(spec)) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os || !cpu) continue;
    pkgs[hoisted] = { version: spec, cpu: [cpu], license: meta.license, optional: true, os: [os], ...(libc ? { libc: [libc] } : {}) };
    if (!pkgs[hoisted].license) delete pkgs[hoisted].license;
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
lock.packages = sorted;
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entries`);
