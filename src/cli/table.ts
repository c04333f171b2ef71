/** Text and markdown tables: columns padded to their widest cell, colour codes not counted. */
import chalk from 'chalk';
import { terminalColumns } from './output.js';

export type Align = 'l' | 'r';

export function visibleWidth(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * Columns padded to their widest cell. A table wider than `width` (the terminal's columns) is
 * printed a row at a time instead, as "heading value" pairs filled up to the width, so that no
 * number is ever cut by the terminal's wrapping.
 */
export function table(head: string[], rows: string[][], align: Align[], width = terminalColumns()): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleWidth(r[i]))));
  if (w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1) > width) return stacked(head, rows, width);
  const pad = (s: string, i: number) => (align[i] === 'r' ? ' '.repeat(w[i] - visibleWidth(s)) + s : s + ' '.repeat(w[i] - visibleWidth(s)));
  const fmt = (r: string[]) => r.map(pad).join('  ').trimEnd();
  return [chalk.bold(fmt(head)), ...rows.map(fmt)];
}

/** A one-line report broken after its commas to fit `width`, so the terminal never cuts a figure. */
export function fitLine(s: string, width = terminalColumns()): string {
  if (visibleWidth(s) <= width) return s;
  const parts = s.split(', ');
  const lines: string[] = [];
  let line = '';
  for (const [i, p] of parts.entries()) {
    const piece = i < parts.length - 1 ? `${p},` : p;
    if (line !== '' && visibleWidth(line) + 1 + visibleWidth(piece) > width) {
      lines.push(line);
      line = '    ' + piece;
    } else line = line === '' ? piece : `${line} ${piece}`;
  }
  lines.push(line);
  return lines.join('\n');
}

function stacked(head: string[], rows: string[][], width: number): string[] {
  const out: string[] = [];
  for (const r of rows) {
    let line = '';
    r.forEach((cell, i) => {
      if (cell === '') return;
      const pair = `${chalk.dim(head[i])} ${cell}`;
      if (line !== '' && visibleWidth(line) + 3 + visibleWidth(pair) > width) {
        out.push(line);
        line = '  ' + pair;
      } else line = line === '' ? pair : `${line}   ${pair}`;
    });
    out.push(line);
  }
  return out;
}

export function markdownTable(head: string[], rows: string[][], align: Align[]): string[] {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${head.map(cell).join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}
