/**
 * `tracker show`, `tracker stats`, `tracker compare`: the image inspection commands. Decoding and
 * comparing live in src/criu (show, stats, compare); this module parses flags and renders text,
 * markdown or JSON.
 */
import chalk from 'chalk';
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { checkThresholds, compare, type CompareResult, type MetricDiff } from '../criu/compare.js';
import { showImageFile, showIteration, showMems, showPages, showRss, type MemsView, type PageSpec, type PagesView, type RssView, type ShownImage, type ShownIteration, type ShownVma } from '../criu/show.js';
import { chainStats, IMAGE_KINDS, type ChainStats } from '../criu/stats.js';
import { UsageError } from '../errors.js';
import { requireImagesPath } from './files.js';
import { EXIT_CODES_HELP } from './help.js';
import { markdownTable, table, type Align } from './table.js';
import { processOutput, type Output, toJson } from './output.js';
import { formatBytes, formatUs } from './units.js';

// ---------------------------------------------------------------------------------------------
// tracker show

function scalar(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Nested key: value lines; arrays of scalars stay on one line. */
function keyValues(o: Record<string, unknown>, indent = '  '): string[] {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
      lines.push(`${indent}${chalk.cyan(k)}:`);
      lines.push(...keyValues(v as Record<string, unknown>, indent + '  '));
    } else lines.push(`${indent}${chalk.cyan(k)}: ${scalar(v)}`);
  }
  return lines;
}

function vmaTable(vmas: ShownVma[]): string[] {
  return table(
    ['start', 'end', 'prot', 'kind', 'pages', 'flags', 'file'],
    vmas.map((v) => [v.start, v.end, v.prot, v.kind, String(v.pages), v.flags, v.file?.name ?? (v.kind === 'shared' ? `shmem #${v.shmem}` : '')]),
    ['l', 'l', 'l', 'l', 'r', 'l', 'l'],
  ).map((l) => '  ' + l);
}

function renderImage(img: ShownImage): string {
  const h = img.header;
  const lines = [chalk.bold(`${img.file}`) + chalk.dim(`  ${img.kind} image: magic ${h.magic}, version ${h.version}, ${h.payload_bytes} payload bytes, crc32 ${h.crc32}`)];
  const c = img.contents;
  if (img.kind === 'mm') lines.push(...vmaTable(c.vmas as ShownVma[]));
  else if (img.kind === 'pagemap') {
    const entries = c.entries as { vaddr: string; nr_pages: number; flags: string }[];
    lines.push(...table(['vaddr', 'nr_pages', 'flags'], entries.map((e) => [e.vaddr, String(e.nr_pages), e.flags]), ['l', 'r', 'l']).map((l) => '  ' + l));
    lines.push(`  ${entries.length} entries: ${c.pages_present} pages present, ${c.pages_in_parent} in parent${c.pages_released ? `, ${c.pages_released} released by dedup` : ''}`);
    if (c.compression !== undefined) lines.push(`  page data compressed: ${JSON.stringify(c.compression)}`);
  } else if (img.kind === 'pages') {
    const z = c.stored_bytes !== undefined ? `, ${c.compression} in ${formatBytes(c.region as number)} regions: ${formatBytes(c.stored_bytes as number)} stored, ratio ${c.ratio}` : '';
    lines.push(`  ${c.pages} pages (${formatBytes(c.bytes as number)})${z}, crc32 ${c.crc32}; use --pages VADDR[,N] for a hex view`);
  }
  else lines.push(...keyValues(c));
  return lines.join('\n');
}

function renderIteration(it: ShownIteration): string {
  const out = it.images.map(renderImage);
  if (it.absent.length > 0) out.push(chalk.dim(`(no ${it.absent.map((k) => `${k}.img`).join(', ')} in ${it.dir})`));
  return out.join('\n\n');
}

function renderPages(v: PagesView): string {
  const lines: string[] = [];
  for (const p of v.pages) {
    if (p.where === 'present') {
      lines.push(chalk.bold(`page ${p.vaddr}`) + chalk.dim(`  in this image, crc32 ${p.crc32}`));
      lines.push(...p.hexdump);
    } else if (p.where === 'released') lines.push(chalk.bold(`page ${p.vaddr}`) + '  released by dedup (a later iteration holds it)');
    else lines.push(chalk.bold(`page ${p.vaddr}`) + `  ${p.where === 'in_parent' ? `in parent${p.iteration !== null ? ` (iteration ${p.iteration})` : ', but no parent holds it'}` : 'not dumped (a hole, or outside the private memory)'}`);
  }
  return lines.join('\n');
}

function renderMems(v: MemsView): string {
  return vmaTable(v.vmas).map((l) => l.slice(2)).join('\n');
}

function byIteration(b: Record<string, number>): string {
  return Object.entries(b).map(([k, n]) => `${k}:${n}`).join(' ');
}

function renderRss(v: RssView): string {
  const rows = v.vmas.map((r) => [r.start, r.end, r.prot, r.kind, String(r.pages), String(r.in_image), String(r.in_parents), byIteration(r.by_iteration)]);
  rows.push(['total', '', '', '', String(v.totals.pages), String(v.totals.in_image), String(v.totals.in_parents), byIteration(v.totals.by_iteration)]);
  const lines = table(['start', 'end', 'prot', 'kind', 'pages', 'in image', 'in parents', 'pages by iteration'], rows, ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'l']);
  return [...lines, chalk.dim(`iteration ${v.iteration}; "in image" pages are in ${v.dir}, the others in the parents listed`)].join('\n');
}

export interface ShowFlags {
  json: boolean;
  pages?: PageSpec;
  mems: boolean;
  rss: boolean;
}

export function showCommand(path: string, f: ShowFlags, out: Output): void {
  const views = [f.pages !== undefined, f.mems, f.rss].filter(Boolean).length;
  if (views > 1) throw new UsageError('show: choose one of --pages, --mems and --rss');
  let doc: unknown;
  let text: () => string;
  if (f.pages !== undefined) {
    const v = showPages(path, f.pages);
    [doc, text] = [v, () => renderPages(v)];
  } else if (f.mems) {
    const v = showMems(path);
    [doc, text] = [v, () => renderMems(v)];
  } else if (f.rss) {
    const v = showRss(path);
    [doc, text] = [v, () => renderRss(v)];
  } else if (existsSync(path) && statSync(path).isDirectory()) {
    const v = showIteration(path);
    [doc, text] = [v, () => renderIteration(v)];
  } else {
    const v = showImageFile(path);
    [doc, text] = [v, () => renderImage(v)];
  }
  out.out(f.json ? toJson(doc) : text());
}

/** VADDR[,N]: a hex (0x...) or decimal address, and a page count (default 1). */
export function parsePageSpec(v: string): PageSpec {
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*(?:,\s*(\d+)\s*)?$/i.exec(v);
  if (m === null) throw new InvalidArgumentError(`--pages must be VADDR[,N] such as 0x7f0000000000,2, got '${v}'`);
  const vaddr = Number(m[1]);
  const count = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isSafeInteger(vaddr)) throw new InvalidArgumentError(`--pages: address ${m[1]} is too large`);
  if (!Number.isSafeInteger(count) || count < 1 || count > 65536) throw new InvalidArgumentError(`--pages: N must be between 1 and 65536, got '${m[2]}'`);
  return { vaddr, count };
}

// ---------------------------------------------------------------------------------------------
// tracker stats

function size(n: number | null): string {
  return n === null ? '-' : formatBytes(n);
}

export function renderStats(s: ChainStats): string {
  const t = s.totals;
  const rows = s.iterations.map((i) => [String(i.iteration), i.type, String(i.pages_scanned), String(i.pages_skipped_parent), String(i.pages_written), formatBytes(i.bytes_written), formatBytes(i.bytes_on_disk), formatUs(i.frozen_time)]);
  rows.push(['total', '', String(t.pages_scanned), String(t.pages_skipped_parent), String(t.pages_written), formatBytes(t.bytes_written), formatBytes(t.bytes_on_disk), formatUs(t.frozen_time)]);
  const lines = [chalk.bold(`${s.images_dir}: ${s.workload.model} (${s.workload.source}, seed ${s.workload.seed}) on kernel ${s.kernel}, ${s.iterations.length} iteration${s.iterations.length === 1 ? '' : 's'}`), ''];
  lines.push(...table(['iter', 'type', 'scanned', 'in parent', 'written', 'page bytes', 'on disk', 'frozen'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']));
  lines.push('', chalk.bold('bytes on disk per file'));
  const fileRows = s.iterations.map((i) => [String(i.iteration), ...IMAGE_KINDS.map((k) => size(i.files[k])), formatBytes(i.bytes_on_disk)]);
  fileRows.push(['total', ...IMAGE_KINDS.map((k) => formatBytes(t.files[k])), formatBytes(t.bytes_on_disk)]);
  lines.push(...table(['iter', ...IMAGE_KINDS, 'all'], fileRows, ['l', ...IMAGE_KINDS.map((): Align => 'r'), 'r']));
  if (t.bytes_stored !== t.bytes_written) lines.push('', `page data compressed: ${formatBytes(t.bytes_written)} -> ${formatBytes(t.bytes_stored)} (ratio ${t.compression_ratio})`);
  if (t.bytes_allocated < t.bytes_on_disk * 0.95) lines.push('', `disk blocks allocated: ${formatBytes(t.bytes_allocated)} of ${formatBytes(t.bytes_on_disk)} (holes left by dedup)`);
  lines.push('', `${s.final_type === 'dump' ? 'downtime (final dump frozen)' : 'last iteration is a pre-dump; its frozen time'}: ${chalk.bold(formatUs(s.final_frozen_time))}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// tracker compare

type Unit = 'pages' | 'bytes' | 'us';

function fmtValue(n: number, unit: Unit): string {
  return unit === 'bytes' ? formatBytes(n) : unit === 'us' ? formatUs(n) : String(n);
}

function fmtDiff(d: MetricDiff, unit: Unit): string {
  if (d.diff === null) return '-';
  return (d.diff > 0 ? '+' : d.diff < 0 ? '-' : '') + fmtValue(Math.abs(d.diff), unit);
}

function fmtPercent(d: MetricDiff): string {
  if (d.diff === null) return '-';
  if (d.percent === null) return 'new';
  return `${d.percent > 0 ? '+' : ''}${d.percent.toFixed(1)}%`;
}

interface CompareRow {
  group: string;
  metric: string;
  d: MetricDiff;
  unit: Unit;
}

function compareRows(r: CompareResult): CompareRow[] {
  const rows: CompareRow[] = [];
  const anyDisk = r.base.from === 'images' || r.head.from === 'images';
  for (const it of r.iterations) {
    // Mark final dumps, and iterations that are a pre-dump on one side and the dump on the other.
    const { base: tb, head: th } = it.type;
    const note = tb !== null && th !== null && tb !== th ? ` (${tb}/${th})` : (tb ?? th) === 'dump' ? ' (dump)' : '';
    const group = `${it.iteration}${note}`;
    rows.push({ group, metric: 'pages written', d: it.pages_written, unit: 'pages' });
    if (anyDisk) rows.push({ group: '', metric: 'bytes on disk', d: it.bytes_on_disk, unit: 'bytes' });
  }
  rows.push({ group: 'total', metric: 'pages written', d: r.totals.pages_written, unit: 'pages' });
  rows.push({ group: '', metric: 'bytes written', d: r.totals.bytes_written, unit: 'bytes' });
  const t = r.totals;
  if (t.bytes_stored.base !== t.bytes_written.base || t.bytes_stored.head !== t.bytes_written.head) rows.push({ group: '', metric: 'bytes over the link', d: t.bytes_stored, unit: 'bytes' });
  if (anyDisk) rows.push({ group: '', metric: 'bytes on disk', d: r.totals.bytes_on_disk, unit: 'bytes' });
  rows.push({ group: 'final dump', metric: 'pages', d: r.final.pages_written, unit: 'pages' });
  if (anyDisk) rows.push({ group: '', metric: 'bytes on disk', d: r.final.bytes_on_disk, unit: 'bytes' });
  rows.push({ group: '', metric: 'est. downtime', d: r.final.downtime, unit: 'us' });
  return rows;
}

const COMPARE_HEAD = ['iteration', 'metric', 'base', 'head', 'Δ', 'Δ%'];
const COMPARE_ALIGN: Align[] = ['l', 'l', 'r', 'r', 'r', 'r'];

function cells(row: CompareRow, colour: boolean): string[] {
  const v = (n: number | null) => (n === null ? '-' : fmtValue(n, row.unit));
  let diff = fmtDiff(row.d, row.unit);
  let pct = fmtPercent(row.d);
  if (colour && row.d.diff !== null && row.d.diff !== 0) {
    // Every metric here is smaller-is-better: growth is bad news.
    const c = row.d.diff > 0 ? chalk.red : chalk.green;
    [diff, pct] = [c(diff), c(pct)];
  }
  return [row.group, row.metric, v(row.d.base), v(row.d.head), diff, pct];
}

function verdict(r: CompareResult): string | null {
  const limits = [r.thresholds.max_increase !== null ? `--max-increase ${r.thresholds.max_increase}%` : null, r.thresholds.max_final_increase !== null ? `--max-final-increase ${r.thresholds.max_final_increase}%` : null].filter((x) => x !== null);
  if (limits.length === 0) return null;
  return r.violations.length === 0 ? `within ${limits.join(' and ')}` : r.violations.join('; ');
}

export function renderCompareText(r: CompareResult): string {
  const lines = [chalk.bold(`base ${r.base.source} (${r.base.from})  vs  head ${r.head.source} (${r.head.from})`), ''];
  lines.push(...table(COMPARE_HEAD, compareRows(r).map((row) => cells(row, true)), COMPARE_ALIGN));
  const v = verdict(r);
  if (v !== null) lines.push('', r.violations.length === 0 ? chalk.green(`ok: ${v}`) : chalk.red(`FAIL: ${v}`));
  return lines.join('\n');
}

export function renderCompareMarkdown(r: CompareResult): string {
  const lines = [`### tracker dump size: \`${r.base.source}\` → \`${r.head.source}\``, ''];
  lines.push(...markdownTable(COMPARE_HEAD, compareRows(r).map((row) => cells(row, false)), COMPARE_ALIGN));
  const v = verdict(r);
  if (v !== null) lines.push('', r.violations.length === 0 ? `:white_check_mark: ${v}` : `:x: **${v}**`);
  return lines.join('\n');
}

/** '5%', '5', '2.5%' -> 5, 5, 2.5 */
export function parsePercent(what: string): (v: string) => number {
  return (v: string) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(v);
    if (m === null) throw new InvalidArgumentError(`${what} must be a percentage such as 5% or 2.5, got '${v}'`);
    return Number(m[1]);
  };
}

export interface CompareFlags {
  maxIncrease?: number;
  maxFinalIncrease?: number;
  format: 'text' | 'markdown' | 'json';
}

/** Prints the comparison, then fails (exit 1) if a threshold was exceeded. */
export function compareCommand(base: string, head: string, f: CompareFlags, out: Output): CompareResult {
  const r = compare(base, head, { maxIncrease: f.maxIncrease, maxFinalIncrease: f.maxFinalIncrease });
  out.out(f.format === 'json' ? toJson(r) : f.format === 'markdown' ? renderCompareMarkdown(r) : renderCompareText(r));
  checkThresholds(r);
  return r;
}

// ---------------------------------------------------------------------------------------------

export function registerInspectCommands(program: Command): void {
  program
    .command('show')
    .description('decode an image file (any name, recognised by its magic) or an iteration directory, like crit show')
    .argument('<path>', 'an image file or an iteration directory DIR/N')
    .option('--json', 'print JSON', false)
    .option('--pages <vaddr[,n]>', 'hex view of N pages (default 1) from VADDR, as this iteration holds them', parsePageSpec)
    .option('--mems', 'list the VMAs of a final dump with protections and kinds (crit x DIR mems)', false)
    .option('--rss', 'per VMA, pages in this image and pages in parents (crit x DIR rss)', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((path: string, opts: ShowFlags) => {
      requireImagesPath(path);
      showCommand(path, opts, processOutput(opts.json));
    });

  program
    .command('stats')
    .description('summarise an image chain: pages scanned, left to parents and written, bytes on disk per file, frozen time')
    .argument('<dir>', 'the images root (holding 1..N) or an iteration DIR/N')
    .option('--json', 'print JSON', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((dir: string, opts: { json: boolean }) => {
      const out = processOutput(opts.json);
      requireImagesPath(dir);
      const s = chainStats(dir);
      out.out(opts.json ? toJson(s) : renderStats(s));
    });

  program
    .command('compare')
    .description('compare two dumps (image chains or saved `dump --iterative --json` reports) per iteration and in total')
    .argument('<base>', 'images root, DIR/N, or a dump --json report file')
    .argument('<head>', 'images root, DIR/N, or a dump --json report file')
    .option('--max-increase <pct>', 'fail (exit 1) if total bytes written grew more than PCT', parsePercent('--max-increase'))
    .option('--max-final-increase <pct>', "fail (exit 1) if the final dump's pages or bytes on disk grew more than PCT", parsePercent('--max-final-increase'))
    .addOption(
      new Option('--format <format>', 'text, markdown (a table for a pull request) or json').default('text').argParser((v: string) => {
        if (v !== 'text' && v !== 'markdown' && v !== 'json') throw new InvalidArgumentError('--format must be one of text, markdown, json');
        return v;
      }),
    )
    .option('--json', 'the same as --format json', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((base: string, head: string, opts: CompareFlags & { json: boolean }, cmd: Command) => {
      if (opts.json) {
        if (cmd.getOptionValueSource('format') === 'cli' && opts.format !== 'json') throw new UsageError(`--json and --format ${opts.format} disagree; give one`);
        opts.format = 'json';
      }
      requireImagesPath(base, 'base');
      requireImagesPath(head, 'head');
      compareCommand(base, head, opts, processOutput(opts.format === 'json'));
    });
}

