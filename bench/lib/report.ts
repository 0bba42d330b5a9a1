/** Printing helpers: a plain-text table and the one verdict line every bench ends with. */

/** Prints rows as an aligned table with a header line. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  console.log(line(cells[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

/**
 * Prints the verdict line, which must be the last line a bench writes (bench/run-all.ts collects it):
 * `<name>: <figure> (target <target>) PASS|MISS`.
 */
export function verdict(name: string, figure: string, target: string, pass: boolean): void {
  console.log(`${name}: ${figure} (target ${target}) ${pass ? 'PASS' : 'MISS'}`);
}

/** Prints a progress note to stderr so it never becomes a bench's last stdout line. */
export function note(message: string): void {
  process.stderr.write(`  ${message}\n`);
}
