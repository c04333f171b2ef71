/**
 * `tracker compare`: how much bigger or smaller a dump got between two versions of a workload (or
 * of tracker). Each side is an image chain (images root or DIR/N) or a saved
 * `tracker dump --iterative --json` report; both become a DumpSummary, and the summaries are
 * compared per iteration and in total. Thresholds turn the comparison into a CI check.
 *
 * Reports carry no file sizes, so "bytes on disk" is known only for image chains; the thresholds
 * use what both kinds of side have (pages and bytes written).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { checkInputSize, InputError, VerifyError } from '../errors.js';
import { interruptedTmp } from './page-read.js';
import { chainStats, imageKindOf } from './stats.js';

export interface SummaryIteration {
  iteration: number;
  type: 'pre-dump' | 'dump';
  pages_written: number;
  bytes_written: number;
  /** Page bytes that crossed the link: bytes_written, or less with --compress (stats bytes_stored). */
  bytes_stored: number;
  /** Sizes of all the iteration's image files; null for a report side. */
  bytes_on_disk: number | null;
  frozen_time: number;
}

export interface DumpSummary {
  source: string;
  from: 'images' | 'report';
  iterations: SummaryIteration[];
}

export type Side = 'base' | 'head';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : JSON.stringify(v);
}

/**
 * Validate a parsed `tracker dump --iterative --json` report; every complaint names the field.
 * Only the fields the comparison uses are required.
 */
export function summaryFromReport(doc: unknown, source: string, where = source): DumpSummary {
  const bad = (field: string, want: string, got: unknown) => new InputError(`${where}: ${field}: expected ${want}, got ${describe(got)} (is it the output of \`tracker dump --iterative --json\`?)`);
  if (!isObject(doc)) throw bad('the document', 'a JSON object', doc);
  if (!Array.isArray(doc.iterations)) throw bad('iterations', 'an array of iteration stats', doc.iterations);
  if (doc.iterations.length === 0) throw bad('iterations', 'at least one iteration', doc.iterations);
  const iterations: SummaryIteration[] = [];
  doc.iterations.forEach((it: unknown, i: number) => {
    const f = `iterations[${i}]`;
    if (!isObject(it)) throw bad(f, 'an object', it);
    for (const k of ['iteration', 'pages_written', 'bytes_written', 'frozen_time'] as const) {
      const v = it[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (k === 'iteration' ? 1 : 0)) throw bad(`${f}.${k}`, k === 'iteration' ? 'a whole number of at least 1' : 'a whole number of at least 0', v);
    }
    if (it.type !== 'pre-dump' && it.type !== 'dump') throw bad(`${f}.type`, '"pre-dump" or "dump"', it.type);
    if (it.bytes_stored !== undefined && (typeof it.bytes_stored !== 'number' || !Number.isSafeInteger(it.bytes_stored) || it.bytes_stored < 0)) throw bad(`${f}.bytes_stored`, 'a whole number of at least 0', it.bytes_stored);
    const prev = iterations[iterations.length - 1];
    if (prev !== undefined && (it.iteration as number) <= prev.iteration) throw bad(`${f}.iteration`, `a number above ${prev.iteration} (iterations in order)`, it.iteration);
    iterations.push({
      iteration: it.iteration as number,
      type: it.type,
      pages_written: it.pages_written as number,
      bytes_written: it.bytes_written as number,
      bytes_stored: (it.bytes_stored ?? it.bytes_written) as number,
      bytes_on_disk: null,
      frozen_time: it.frozen_time as number,
    });
  });
  return { source, from: 'report', iterations };
}

export function summaryFromImages(path: string): DumpSummary {
  const s = chainStats(path);
  return {
    source: path,
    from: 'images',
    iterations: s.iterations.map((i) => ({
      iteration: i.iteration,
      type: i.type,
      pages_written: i.pages_written,
      bytes_written: i.bytes_written,
      bytes_stored: i.bytes_stored,
      bytes_on_disk: i.bytes_on_disk,
      frozen_time: i.frozen_time,
    })),
  };
}

/** A side by what it is: a directory is an image chain, a file must be a JSON dump report. */
export function loadSummary(path: string, side: Side): DumpSummary {
  if (!existsSync(path) && interruptedTmp(path) === null) throw new InputError(`${side} ${path}: no such file or directory`);
  if (!existsSync(path)) return summaryFromImages(path);
  if (statSync(path).isDirectory()) return summaryFromImages(path);
  if (imageKindOf(path) !== null) throw new InputError(`${side} ${path}: is a single image file; pass its images directory (or DIR/N) or a \`tracker dump --iterative --json\` report`);
  let text: string;
  checkInputSize(path, `${side} report`);
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`${side} ${path}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError(`${side} ${path}: neither an images directory nor a JSON dump report (not valid JSON)`);
  }
  return summaryFromReport(doc, path, `${side} ${path}`);
}

export interface MetricDiff {
  base: number | null;
  head: number | null;
  /** head - base; null when either side lacks the value. */
  diff: number | null;
  /** Relative change in percent; null when unknown or when base is 0 and head is not. */
  percent: number | null;
}

export function metricDiff(base: number | null, head: number | null): MetricDiff {
  if (base === null || head === null) return { base, head, diff: null, percent: null };
  const diff = head - base;
  const percent = base === 0 ? (head === 0 ? 0 : null) : Math.round((diff / base) * 1e4) / 100;
  return { base, head, diff, percent };
}

export interface IterationDiff {
  iteration: number;
  type: { base: SummaryIteration['type'] | null; head: SummaryIteration['type'] | null };
  pages_written: MetricDiff;
  bytes_on_disk: MetricDiff;
  frozen_time: MetricDiff;
}

export interface Thresholds {
  /** Percent increase of total bytes written allowed. */
  maxIncrease?: number;
  /** Percent increase of the final dump's pages (or its bytes on disk) allowed. */
  maxFinalIncrease?: number;
}

export interface CompareResult {
  base: { source: string; from: DumpSummary['from'] };
  head: { source: string; from: DumpSummary['from'] };
  iterations: IterationDiff[];
  totals: { pages_written: MetricDiff; bytes_written: MetricDiff; bytes_stored: MetricDiff; bytes_on_disk: MetricDiff };
  final: { iteration: { base: number; head: number }; pages_written: MetricDiff; bytes_written: MetricDiff; bytes_on_disk: MetricDiff; downtime: MetricDiff };
  thresholds: { max_increase: number | null; max_final_increase: number | null };
  /** One sentence per threshold exceeded; empty when the comparison passes. */
  violations: string[];
}

const sumOf = (its: SummaryIteration[], f: (i: SummaryIteration) => number | null): number | null =>
  its.reduce<number | null>((a, i) => (a === null || f(i) === null ? null : a + (f(i) as number)), 0);

function grew(what: string, d: MetricDiff, limit: number, flag: string): string | null {
  if (d.base === null || d.head === null || d.diff === null || d.diff <= 0) return null;
  if (d.percent !== null && d.percent <= limit) return null;
  const pct = d.percent === null ? `from 0 to ${d.head}` : `${d.percent}% (${d.base} -> ${d.head})`;
  return `${what} grew ${pct}, over ${flag} ${limit}%`;
}

export function compareSummaries(base: DumpSummary, head: DumpSummary, t: Thresholds = {}): CompareResult {
  const numbers = [...new Set([...base.iterations, ...head.iterations].map((i) => i.iteration))].sort((a, b) => a - b);
  const iterations = numbers.map((n): IterationDiff => {
    const b = base.iterations.find((i) => i.iteration === n) ?? null;
    const h = head.iterations.find((i) => i.iteration === n) ?? null;
    return {
      iteration: n,
      type: { base: b?.type ?? null, head: h?.type ?? null },
      pages_written: metricDiff(b?.pages_written ?? null, h?.pages_written ?? null),
      bytes_on_disk: metricDiff(b?.bytes_on_disk ?? null, h?.bytes_on_disk ?? null),
      frozen_time: metricDiff(b?.frozen_time ?? null, h?.frozen_time ?? null),
    };
  });
  const fb = base.iterations[base.iterations.length - 1];
  const fh = head.iterations[head.iterations.length - 1];
  const r: CompareResult = {
    base: { source: base.source, from: base.from },
    head: { source: head.source, from: head.from },
    iterations,
    totals: {
      pages_written: metricDiff(sumOf(base.iterations, (i) => i.pages_written), sumOf(head.iterations, (i) => i.pages_written)),
      bytes_written: metricDiff(sumOf(base.iterations, (i) => i.bytes_written), sumOf(head.iterations, (i) => i.bytes_written)),
      bytes_stored: metricDiff(sumOf(base.iterations, (i) => i.bytes_stored), sumOf(head.iterations, (i) => i.bytes_stored)),
      bytes_on_disk: metricDiff(sumOf(base.iterations, (i) => i.bytes_on_disk), sumOf(head.iterations, (i) => i.bytes_on_disk)),
    },
    final: {
      iteration: { base: fb.iteration, head: fh.iteration },
      pages_written: metricDiff(fb.pages_written, fh.pages_written),
      bytes_written: metricDiff(fb.bytes_written, fh.bytes_written),
      bytes_on_disk: metricDiff(fb.bytes_on_disk, fh.bytes_on_disk),
      // The final dump is copied while frozen: its frozen time is the migration's downtime.
      downtime: metricDiff(fb.frozen_time, fh.frozen_time),
    },
    thresholds: { max_increase: t.maxIncrease ?? null, max_final_increase: t.maxFinalIncrease ?? null },
    violations: [],
  };
  if (t.maxIncrease !== undefined) {
    // What crosses the link: with --compress on either side, the compressed bytes.
    const compressed = r.totals.bytes_stored.base !== r.totals.bytes_written.base || r.totals.bytes_stored.head !== r.totals.bytes_written.head;
    const v = compressed ? grew('total bytes over the link (compressed)', r.totals.bytes_stored, t.maxIncrease, '--max-increase') : grew('total bytes written', r.totals.bytes_written, t.maxIncrease, '--max-increase');
    if (v !== null) r.violations.push(v);
  }
  if (t.maxFinalIncrease !== undefined) {
    const v = grew('final-dump pages', r.final.pages_written, t.maxFinalIncrease, '--max-final-increase') ?? grew('final-dump bytes on disk', r.final.bytes_on_disk, t.maxFinalIncrease, '--max-final-increase');
    if (v !== null) r.violations.push(v);
  }
  return r;
}

/** Throw the comparison's failure, one line, when a threshold was exceeded. */
export function checkThresholds(r: CompareResult): void {
  if (r.violations.length > 0) throw new VerifyError(`compare: ${r.violations.join('; ')}`);
}

export function compare(basePath: string, headPath: string, t: Thresholds): CompareResult {
  return compareSummaries(loadSummary(basePath, 'base'), loadSummary(headPath, 'head'), t);
}
