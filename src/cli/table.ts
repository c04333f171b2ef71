/** Text and markdown tables: columns padded to their widest cell, colour codes not counted. */
import chalk from 'chalk';

export type Align = 'l' | 'r';

export function visibleWidth(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

export function table(head: string[], rows: string[][], align: Align[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleWidth(r[i]))));
  const pad = (s: string, i: number) => (align[i] === 'r' ? ' '.repeat(w[i] - visibleWidth(s)) + s : s + ' '.repeat(w[i] - visibleWidth(s)));
  const fmt = (r: string[]) => r.map(pad).join('  ').trimEnd();
  return [chalk.bold(fmt(head)), ...rows.map(fmt)];
}

export function markdownTable(head: string[], rows: string[][], align: Align[]): string[] {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${head.map(cell).join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}
