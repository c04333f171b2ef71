/**
 * `--report FILE.html`: one self-contained page (inline CSS, SVG and a few lines of script; no
 * network at view time) with three charts per plan or dump:
 *   1. pages written per iteration against virtual time, one line per combination (log-log);
 *   2. the final downtime of each combination against the downtime limit;
 *   3. per combination, a heat map of the address space: pages along x (in buckets), iterations
 *      down y, each cell coloured by the iteration that dumped its pages, as dark as the share
 *      of the bucket it dumped.
 */
import { formatBandwidth, formatBytes, formatSeconds } from './format.js';
import type { HeatMap } from './heatmap.js';

export interface ReportIteration {
  iteration: number;
  type: 'pre-dump' | 'dump';
  start_s: number;
  end_s: number;
  pages_written: number;
  expected_downtime_s: number | null;
}

export interface ReportRun {
  label: string;
  policy: string;
  bandwidth: number;
  converged: boolean;
  downtime_s: number;
  total_time_s: number;
  bytes_sent: number;
  stop_reason: string;
  iterations: ReportIteration[];
  heatmap: HeatMap | null;
}

export interface ReportInput {
  title: string;
  subtitle: string;
  downtime_limit_s: number | null;
  runs: ReportRun[];
  /** A closing sentence (the plan's recommendation). */
  recommendation?: string;
  /** The plan's answer per bandwidth. */
  answers?: ReportAnswer[];
}

export interface ReportAnswer {
  bandwidth: number;
  converges: boolean;
  /** The converging policy, or the closest one. */
  policy: string;
  downtime_s: number;
  margin_s: number | null;
  /** [min, median, max] over seeds. */
  spread: [number, number, number] | null;
  /** What would make it converge (empty when it does). */
  break_even: string;
}

function answersTable(answers: ReportAnswer[]): string {
  const head = ['bandwidth', 'converges', 'policy', 'downtime', 'margin', 'over seeds', 'converges with'];
  const rows = answers.map(
    (a) =>
      `<tr><td>${esc(formatBandwidth(a.bandwidth))}</td><td class="${a.converges ? 'ok' : 'over'}">${a.converges ? 'yes' : 'no'}</td><td>${esc(a.policy)}</td><td>${esc(formatSeconds(a.downtime_s))}</td><td>${a.margin_s === null ? '' : esc(formatSeconds(a.margin_s))}</td><td>${a.spread === null ? '' : esc(a.spread.map(formatSeconds).join(' / '))}</td><td>${esc(a.break_even)}</td></tr>`,
  );
  return `<table class="answers"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * Series colours name combinations only. Red is kept for one meaning, "over the downtime limit"
 * (OVER), and green for "within it" in the table, so neither is a series colour.
 */
const PALETTE = ['#1f77b4', '#ff7f0e', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79', '#ad494a'];
const OVER = '#c0392b';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Round up to 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const W = 760;
const H = 320;
const M = { left: 80, right: 16, top: 16, bottom: 44 };

/** Round up to a round figure on a finer scale than niceMax: a linear time axis uses most of its width. */
function niceTime(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v * 1.02) return m * p;
  return 10 * p;
}

/** Runs whose points are the same as an earlier run's: they would hide one another. */
function identicalTo(runs: ReportRun[]): (number | null)[] {
  const key = (r: ReportRun) => r.iterations.map((i) => `${i.end_s}:${i.pages_written}`).join(' ');
  return runs.map((r, i) => {
    const k = key(r);
    const j = runs.findIndex((o, jj) => jj < i && key(o) === k);
    return j < 0 ? null : j;
  });
}

/**
 * The time axis: logarithmic when the iterations span more than a decade (a 100 Mbit/s migration
 * takes seconds where a 10 Gbit/s one takes milliseconds), linear from 0 otherwise, so that one
 * dump's iterations spread over the width instead of gathering in a corner of a decade.
 */
function timeAxis(ends: number[], iw: number): { x: (t: number) => number; ticks: number[]; log: boolean } {
  const min = Math.min(...ends);
  const max = Math.max(...ends);
  if (ends.length === 0 || !(min > 0) || max / min < 10) {
    const top = niceTime(max > 0 ? max : 1);
    return { x: (t) => M.left + (t / top) * iw, ticks: [0, 1, 2, 3, 4].map((k) => (top * k) / 4), log: false };
  }
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const ticks: number[] = [];
  for (let k = lo; k <= hi; k++) ticks.push(10 ** k);
  return { x: (t) => M.left + ((Math.log10(Math.max(t, 10 ** lo)) - lo) / (hi - lo)) * iw, ticks, log: true };
}

function pagesChart(runs: ReportRun[]): string {
  // Pages logarithmic: the first pre-dump dwarfs the later ones. Points sit at each iteration's end.
  const ends = runs.flatMap((r) => r.iterations.map((i) => i.end_s)).filter((t) => t > 0);
  const pMax = Math.max(1, ...runs.flatMap((r) => r.iterations.map((i) => i.pages_written)));
  const zero = runs.some((r) => r.iterations.some((i) => i.pages_written === 0));
  const decades = Math.max(1, Math.ceil(Math.log10(pMax)));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const t = timeAxis(ends, iw);
  // A log axis has no 0: a pre-dump that wrote nothing sits on the bottom line, marked hollow.
  const y = (p: number) => M.top + ih - (Math.log10(Math.max(p, 1)) / decades) * ih;
  const parts: string[] = [];
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d);
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${num(yy)}" y2="${num(yy)}" class="grid"/><text x="${M.left - 6}" y="${num(yy + 4)}" text-anchor="end" class="ytick">${(10 ** d).toLocaleString('en-US')}</text>`);
  }
  t.ticks.forEach((v, k) => {
    const xx = t.x(v);
    parts.push(`<line x1="${num(xx)}" x2="${num(xx)}" y1="${M.top}" y2="${M.top + ih}" class="grid"/><text x="${num(xx)}" y="${H - M.bottom + 16}" text-anchor="${k === t.ticks.length - 1 ? 'end' : k === 0 ? 'start' : 'middle'}" class="xtick">${esc(formatSeconds(v))}</text>`);
  });
  parts.push(`<text x="${M.left + iw / 2}" y="${H - 6}" text-anchor="middle" class="axis">virtual time at the end of the iteration${t.log ? ' (log)' : ''}</text>`);
  parts.push(`<text transform="translate(14 ${M.top + ih / 2}) rotate(-90)" text-anchor="middle" class="axis">pages written (log${zero ? '; hollow: none' : ''})</text>`);
  const same = identicalTo(runs);
  runs.forEach((r, i) => {
    const c = PALETTE[i % PALETTE.length];
    const pts = r.iterations.map((it) => `${num(t.x(it.end_s))},${num(y(it.pages_written))}`).join(' ');
    const marks = r.iterations
      .map((it) => {
        const cx = num(t.x(it.end_s));
        const cy = num(y(it.pages_written));
        const fill = it.pages_written === 0 ? `fill="#fff" stroke="${c}"` : `fill="${c}"`;
        const tip = `<title>${esc(r.label)}: ${it.type} ${it.iteration} ended at ${esc(formatSeconds(it.end_s))}: ${it.pages_written} pages</title>`;
        return it.type === 'dump'
          ? `<rect x="${num(+cx - 4)}" y="${num(+cy - 4)}" width="8" height="8" ${fill}>${tip}</rect>`
          : `<circle cx="${cx}" cy="${cy}" r="3" ${fill}>${tip}</circle>`;
      })
      .join('');
    // A line identical to an earlier one is drawn dashed over it, so both colours show.
    const dash = same[i] !== null ? ' stroke-dasharray="6 6" class="identical"' : '';
    parts.push(`<g class="series" data-series="${i}"><polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"${dash}/>${marks}</g>`);
  });
  return svg('pages', 'Pages written per iteration against virtual time (square: the final dump; dashed: the same points as another combination)', parts.join(''));
}

function downtimeChart(runs: ReportRun[], limit: number | null): string {
  const vMax = niceMax(Math.max(limit ?? 0, ...runs.map((r) => r.downtime_s)) * 1.1);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const y = (v: number) => M.top + ih - (v / vMax) * ih;
  const slot = iw / runs.length;
  const bw = Math.min(60, slot * 0.6);
  const parts: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (vMax * k) / 4;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${num(y(v))}" y2="${num(y(v))}" class="grid"/><text x="${M.left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${esc(formatSeconds(v))}</text>`);
  }
  runs.forEach((r, i) => {
    const cx = M.left + slot * (i + 0.5);
    const over = limit !== null && r.downtime_s > limit;
    parts.push(
      // The bar is the combination's colour; over the limit it is hatched and labelled in red.
      `<g class="series" data-series="${i}"><rect x="${num(cx - bw / 2)}" y="${num(y(r.downtime_s))}" width="${num(bw)}" height="${num(Math.max(0.5, M.top + ih - y(r.downtime_s)))}" fill="${PALETTE[i % PALETTE.length]}"${over ? ` class="bar over" stroke="${OVER}" stroke-width="2"` : ' class="bar"'}><title>${esc(r.label)}: downtime ${esc(formatSeconds(r.downtime_s))}${over ? ' (over the limit)' : ''}</title></rect>` +
        (over ? `<rect x="${num(cx - bw / 2)}" y="${num(y(r.downtime_s))}" width="${num(bw)}" height="${num(Math.max(0.5, M.top + ih - y(r.downtime_s)))}" fill="url(#hatch)" pointer-events="none"/>` : '') +
        `<text x="${num(cx)}" y="${num(y(r.downtime_s) - 4)}" text-anchor="middle"${over ? ' class="over-label"' : ''}>${esc(formatSeconds(r.downtime_s))}${over ? ' over' : ''}</text>` +
        `<text x="${num(cx)}" y="${H - M.bottom + 14}" text-anchor="middle" class="small">${esc(r.policy)}</text>` +
        `<text x="${num(cx)}" y="${H - M.bottom + 27}" text-anchor="middle" class="small">${esc(formatBandwidth(r.bandwidth))}</text></g>`,
    );
  });
  if (limit !== null) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${num(y(limit))}" y2="${num(y(limit))}" class="limit"/><text x="${W - M.right}" y="${num(y(limit) - 5)}" text-anchor="end" class="limit-label">limit ${esc(formatSeconds(limit))}</text>`);
  }
  parts.push(`<text transform="translate(14 ${M.top + ih / 2}) rotate(-90)" text-anchor="middle" class="axis">downtime (final dump frozen)</text>`);
  parts.unshift(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="${OVER}" stroke-width="3"/></pattern></defs>`);
  return svg('downtime', 'Downtime of each combination against the limit', parts.join(''));
}

/**
 * Colour of iteration i of n: blue for the first pre-dump to amber for the dump. The scale stops
 * short of red, which means only "over the downtime limit" on this page.
 */
function iterationColour(i: number, n: number): string {
  const hue = n <= 1 ? 40 : Math.round(230 - (190 * i) / (n - 1));
  return `hsl(${hue} 75% 42%)`;
}

function heatChart(r: ReportRun, index: number): string {
  const h = r.heatmap;
  if (h === null) return '';
  const rows = h.counts.length;
  const cols = h.counts[0]?.length ?? 0;
  const left = 92;
  const cw = (W - left - M.right) / Math.max(1, cols);
  const ch = Math.max(8, Math.min(22, 260 / Math.max(1, rows)));
  const height = M.top + rows * ch + 40;
  const parts: string[] = [];
  h.counts.forEach((row, i) => {
    const c = iterationColour(i, rows);
    const yy = M.top + i * ch;
    parts.push(`<text x="${left - 6}" y="${num(yy + ch * 0.7)}" text-anchor="end" class="small">${i + 1} ${h.types[i]}</text>`);
    row.forEach((n, b) => {
      if (n === 0) return;
      const inBucket = Math.min(h.pages_per_bucket, h.pages - b * h.pages_per_bucket);
      const o = Math.max(0.12, n / inBucket);
      parts.push(`<rect class="cell" x="${num(left + b * cw)}" y="${num(yy)}" width="${num(cw + 0.3)}" height="${num(ch - 1)}" fill="${c}" fill-opacity="${num(o)}"><title>iteration ${i + 1}: ${n} of ${inBucket} pages at ${b * h.pages_per_bucket}..</title></rect>`);
    });
  });
  parts.push(`<text x="${left}" y="${height - 12}" class="axis">pages 0 .. ${h.pages.toLocaleString('en-US')} of the private mappings (${h.pages_per_bucket} per column)</text>`);
  return svg(`heat-${index}`, `Address space by dumping iteration: ${r.label}`, parts.join(''), height, 'heatmap') + heatLegend(rows);
}

/** What the heat map's colours mean: hue the iteration, depth the share of the column it dumped. */
function heatLegend(rows: number): string {
  const hues = Array.from({ length: rows }, (_, i) => `<span class="sw" style="background:${iterationColour(i, rows)}" title="iteration ${i + 1}"></span>`).join('');
  const depth = [0.12, 0.25, 0.5, 0.75, 1].map((o) => `<span class="sw" style="background:#333;opacity:${o}"></span>`).join('');
  return `<p class="heat-legend">colour: iteration <span class="scale">1 ${hues} ${rows}</span> (blue: first pre-dump … amber: final dump); depth: share of the column's pages it dumped <span class="scale">few ${depth} all</span></p>`;
}

function svg(id: string, title: string, body: string, height = H, kind = 'chart'): string {
  // Scales with the page (viewBox, width 100 %): no fixed pixel width.
  return `<figure><figcaption>${esc(title)}</figcaption><svg id="${id}" class="chart ${kind}" viewBox="0 0 ${W} ${height}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">${body}</svg></figure>`;
}

function legend(runs: ReportRun[]): string {
  const same = identicalTo(runs);
  return `<ul class="legend">${runs.map((r, i) => `<li data-series="${i}"><span style="background:${PALETTE[i % PALETTE.length]}"></span>${esc(r.label)}${same[i] !== null ? ` <em class="identical">(same points as ${esc(runs[same[i]!].label)})</em>` : ''}</li>`).join('')}<li class="over-key"><span class="hatch"></span>over the downtime limit</li></ul>`;
}

function table(runs: ReportRun[], limit: number | null): string {
  const head = ['combination', 'iterations', 'converged', 'sent', 'downtime', 'total time', 'stopped'];
  const rows = runs.map((r) => {
    const over = limit !== null && r.downtime_s > limit;
    return `<tr><td>${esc(r.label)}</td><td>${r.iterations.length}</td><td>${r.converged ? 'yes' : 'no'}</td><td>${esc(formatBytes(r.bytes_sent))}</td><td class="${over ? 'over' : 'ok'}">${esc(formatSeconds(r.downtime_s))}</td><td>${esc(formatSeconds(r.total_time_s))}</td><td class="stop">${esc(r.stop_reason)}</td></tr>`;
  });
  return `<div class="table-wrap"><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;max-width:1400px}
h1{font-size:20px;margin:0 0 4px}p.sub{color:#555;margin:0 0 16px}
figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{background:#fff;border:1px solid #ddd;width:100%;height:auto;max-width:1100px;display:block}svg text{font-size:11px;fill:#333}
svg text.axis{font-size:12px;fill:#555}svg text.small{font-size:10px}
.grid{stroke:#eee}.limit{stroke:#e45756;stroke-width:2;stroke-dasharray:6 4}.limit-label{fill:#e45756;font-weight:600}
div.table-wrap{overflow-x:auto}table{border-collapse:collapse;margin:12px 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:12px;white-space:nowrap}td.stop{white-space:normal;min-width:16em}
td.over{color:#c0392b;font-weight:600}td.ok{color:#2e7d32}.over-label{fill:#c0392b;font-weight:600}
p.heat-legend{font-size:12px;color:#444;margin:2px 0 14px}span.scale{white-space:nowrap}span.sw{display:inline-block;width:12px;height:12px;vertical-align:-2px}
ul.legend span.hatch{background:repeating-linear-gradient(45deg,#c0392b 0 3px,#fff 3px 6px);border:1px solid #c0392b}em.identical{color:#666}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px}ul.legend span{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
ul.legend li{cursor:default}.dim{opacity:.15}`;

// Highlights a combination on hover over the legend; marks the page rendered for tests.
const SCRIPT = `(function(){
var series=document.querySelectorAll('.series');
document.querySelectorAll('ul.legend li').forEach(function(li){
li.addEventListener('mouseenter',function(){var s=li.getAttribute('data-series');series.forEach(function(g){if(g.getAttribute('data-series')!==s)g.classList.add('dim');});});
li.addEventListener('mouseleave',function(){series.forEach(function(g){g.classList.remove('dim');});});});
document.body.setAttribute('data-charts',String(document.querySelectorAll('svg.chart').length));
var wrapped=0;document.querySelectorAll('td:not(.stop),th').forEach(function(c){var r=document.createRange();r.selectNodeContents(c);if(r.getClientRects().length>1)wrapped++;});
document.body.setAttribute('data-wrapped-cells',String(wrapped));
document.body.setAttribute('data-overflow',String(document.documentElement.scrollWidth>document.documentElement.clientWidth));
document.body.setAttribute('data-rendered','yes');})();`;

export function renderReport(r: ReportInput): string {
  const heat = r.runs.map((run, i) => heatChart(run, i)).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<script>window.addEventListener('error',function(e){document.documentElement.setAttribute('data-script-error',String(e.message));});</script>
<style>${CSS}</style></head>
<body><h1>${esc(r.title)}</h1><p class="sub">${esc(r.subtitle)}</p>
${table(r.runs, r.downtime_limit_s)}
${r.answers !== undefined && r.answers.length > 0 ? answersTable(r.answers) : ''}
${r.recommendation !== undefined ? `<p class="rec"><strong>${esc(r.recommendation)}</strong></p>` : ''}
${legend(r.runs)}
${pagesChart(r.runs)}
${downtimeChart(r.runs, r.downtime_limit_s)}
${heat}
<script>${SCRIPT}</script>
</body></html>
`;
}
