import type { JobDefinition } from './registry';

const UNITS: [number, string][] = [
  [86_400, 'd'],
  [3600, 'h'],
  [60, 'min'],
  [1, 's'],
];

/** "every 1 h", "every 90 min" (mixed units stay in the smaller one), "every 1.5 s". */
export function describeInterval(seconds: number): string {
  for (const [size, unit] of UNITS) {
    if (seconds >= size && seconds % size === 0) return `every ${seconds / size} ${unit}`;
  }
  return `every ${Math.round(seconds * 1000) / 1000} s`;
}

const pad = (s: string) => s.padStart(2, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Common cron shapes in words ("daily at 03:17", "hourly at :05", "every 15 min"); others as `cron <expr>`. */
export function describeCron(expr: string): string {
  const f = expr.trim().split(/\s+/);
  if (f.length !== 5) return `cron ${expr}`;
  const [min, hour, dom, mon, dow] = f;
  const num = (s: string) => /^\d+$/.test(s);
  if (dom === '*' && mon === '*') {
    const step = /^\*\/(\d+)$/.exec(min);
    if (step && hour === '*' && dow === '*') return `every ${step[1]} min`;
    if (num(min) && hour === '*' && dow === '*') return `hourly at :${pad(min)}`;
    if (num(min) && num(hour)) {
      const at = `${pad(hour)}:${pad(min)}`;
      if (dow === '*') return `daily at ${at}`;
      if (num(dow) && Number(dow) <= 7) return `${DAYS[Number(dow)]} at ${at}`;
    }
  }
  return `cron ${expr}`;
}

/** A job's schedule in words: "every 1 h", "daily at 03:17", "once", "on demand". */
export function describeSchedule(def: Pick<JobDefinition, 'job_type' | 'interval_seconds' | 'cron'>): string {
  if (def.job_type === 'repeating' && def.interval_seconds) return describeInterval(def.interval_seconds);
  if (def.job_type === 'cron' && def.cron) return describeCron(def.cron);
  if (def.job_type === 'once') return 'once';
  return 'on demand';
}
