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
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

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

function pagesChart(runs: ReportRun[]): string {
  // Both axes logarithmic: a 100 Mbit/s migration takes seconds where a 10 Gbit/s one takes
  // milliseconds, and the first pre-dump dwarfs the later ones. Points sit at each iteration's end.
  const ends = runs.flatMap((r) => r.iterations.map((i) => i.end_s)).filter((t) => t > 0);
  const lo = Math.floor(Math.log10(Math.min(...ends, 1)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...ends, 1e-3))));
  const pMax = Math.max(1, ...runs.flatMap((r) => r.iterations.map((i) => i.pages_written)));
  const decades = Math.max(1, Math.ceil(Math.log10(pMax + 1)));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const x = (t: number) => M.left + ((Math.log10(Math.max(t, 10 ** lo)) - lo) / (hi - lo)) * iw;
  const y = (p: number) => M.top + ih - (Math.log10(p + 1) / decades) * ih;
  const parts: string[] = [];
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d - 1);
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${num(yy)}" y2="${num(yy)}" class="grid"/><text x="${M.left - 6}" y="${num(yy + 4)}" text-anchor="end">${d === 0 ? 0 : (10 ** d).toLocaleString('en-US')}</text>`);
  }
  for (let k = lo; k <= hi; k++) {
    const xx = x(10 ** k);
    parts.push(`<line x1="${num(xx)}" x2="${num(xx)}" y1="${M.top}" y2="${M.top + ih}" class="grid"/><text x="${num(xx)}" y="${H - M.bottom + 16}" text-anchor="${k === hi ? 'end' : k === lo ? 'start' : 'middle'}">${esc(formatSeconds(10 ** k))}</text>`);
  }
  parts.push(`<text x="${M.left + iw / 2}" y="${H - 6}" text-anchor="middle" class="axis">virtual time at the end of the iteration (log)</text>`);
  parts.push(`<text transform="translate(14 ${M.top + ih / 2}) rotate(-90)" text-anchor="middle" class="axis">pages written (log)</text>`);
  runs.forEach((r, i) => {
    const c = PALETTE[i % PALETTE.length];
    const pts = r.iterations.map((it) => `${num(x(it.end_s))},${num(y(it.pages_written))}`).join(' ');
    const marks = r.iterations
      .map((it) => {
        const cx = num(x(it.end_s));
        const cy = num(y(it.pages_written));
        const tip = `<title>${esc(r.label)}: ${it.type} ${it.iteration} ended at ${esc(formatSeconds(it.end_s))}: ${it.pages_written} pages</title>`;
        return it.type === 'dump'
          ? `<rect x="${num(+cx - 4)}" y="${num(+cy - 4)}" width="8" height="8" fill="${c}">${tip}</rect>`
          : `<circle cx="${cx}" cy="${cy}" r="3" fill="${c}">${tip}</circle>`;
      })
      .join('');
    parts.push(`<g class="series" data-series="${i}"><polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>${marks}</g>`);
  });
  return svg('pages', 'Pages written per iteration against virtual time (square: the final dump)', parts.join(''));
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
      `<g class="series" data-series="${i}"><rect x="${num(cx - bw / 2)}" y="${num(y(r.downtime_s))}" width="${num(bw)}" height="${num(Math.max(0.5, M.top + ih - y(r.downtime_s)))}" fill="${over ? '#e45756' : '#54a24b'}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"><title>${esc(r.label)}: downtime ${esc(formatSeconds(r.downtime_s))}</title></rect>` +
        `<text x="${num(cx)}" y="${num(y(r.downtime_s) - 4)}" text-anchor="middle">${esc(formatSeconds(r.downtime_s))}</text>` +
        `<text x="${num(cx)}" y="${H - M.bottom + 14}" text-anchor="middle" class="small">${esc(r.policy)}</text>` +
        `<text x="${num(cx)}" y="${H - M.bottom + 27}" text-anchor="middle" class="small">${esc(formatBandwidth(r.bandwidth))}</text></g>`,
    );
  });
  if (limit !== null) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${num(y(limit))}" y2="${num(y(limit))}" class="limit"/><text x="${W - M.right}" y="${num(y(limit) - 5)}" text-anchor="end" class="limit-label">limit ${esc(formatSeconds(limit))}</text>`);
  }
  parts.push(`<text transform="translate(14 ${M.top + ih / 2}) rotate(-90)" text-anchor="middle" class="axis">downtime (final dump frozen)</text>`);
  return svg('downtime', 'Downtime of each combination against the limit', parts.join(''));
}

/** Colour of iteration i of n: blue for the first pre-dump to red for the dump. */
function iterationColour(i: number, n: number): string {
  const hue = n <= 1 ? 0 : Math.round(220 - (220 * i) / (n - 1));
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
  return svg(`heat-${index}`, `Address space by dumping iteration: ${r.label}`, parts.join(''), height, 'heatmap');
}

function svg(id: string, title: string, body: string, height = H, kind = 'chart'): string {
  return `<figure><figcaption>${esc(title)}</figcaption><svg id="${id}" class="chart ${kind}" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">${body}</svg></figure>`;
}

function legend(runs: ReportRun[]): string {
  return `<ul class="legend">${runs.map((r, i) => `<li data-series="${i}"><span style="background:${PALETTE[i % PALETTE.length]}"></span>${esc(r.label)}</li>`).join('')}</ul>`;
}

function table(runs: ReportRun[], limit: number | null): string {
  const head = ['combination', 'iterations', 'converged', 'sent', 'downtime', 'total time', 'stopped'];
  const rows = runs.map((r) => {
    const over = limit !== null && r.downtime_s > limit;
    return `<tr><td>${esc(r.label)}</td><td>${r.iterations.length}</td><td>${r.converged ? 'yes' : 'no'}</td><td>${esc(formatBytes(r.bytes_sent))}</td><td class="${over ? 'over' : 'ok'}">${esc(formatSeconds(r.downtime_s))}</td><td>${esc(formatSeconds(r.total_time_s))}</td><td>${esc(r.stop_reason)}</td></tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:820px}
h1{font-size:20px;margin:0 0 4px}p.sub{color:#555;margin:0 0 16px}
figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{background:#fff;border:1px solid #ddd}svg text{font-size:11px;fill:#333}
svg text.axis{font-size:12px;fill:#555}svg text.small{font-size:10px}
.grid{stroke:#eee}.limit{stroke:#e45756;stroke-width:2;stroke-dasharray:6 4}.limit-label{fill:#e45756;font-weight:600}
table{border-collapse:collapse;margin:12px 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:12px}
td.over{color:#c0392b;font-weight:600}td.ok{color:#2e7d32}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px}ul.legend span{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
ul.legend li{cursor:default}.dim{opacity:.15}`;

// Highlights a combination on hover over the legend; marks the page rendered for tests.
const SCRIPT = `(function(){
var series=document.querySelectorAll('.series');
document.querySelectorAll('ul.legend li').forEach(function(li){
li.addEventListener('mouseenter',function(){var s=li.getAttribute('data-series');series.forEach(function(g){if(g.getAttribute('data-series')!==s)g.classList.add('dim');});});
li.addEventListener('mouseleave',function(){series.forEach(function(g){g.classList.remove('dim');});});});
document.body.setAttribute('data-charts',String(document.querySelectorAll('svg.chart').length));
document.body.setAttribute('data-rendered','yes');})();`;

export function renderReport(r: ReportInput): string {
  const heat = r.runs.map((run, i) => heatChart(run, i)).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<script>window.addEventListener('error',function(e){document.documentElement.setAttribute('data-script-error',String(e.message));});</script>
<style>${CSS}</style></head>
<body><h1>${esc(r.title)}</h1><p class="sub">${esc(r.subtitle)}</p>
${table(r.runs, r.downtime_limit_s)}
${r.recommendation !== undefined ? `<p class="rec"><strong>${esc(r.recommendation)}</strong></p>` : ''}
${legend(r.runs)}
${pagesChart(r.runs)}
${downtimeChart(r.runs, r.downtime_limit_s)}
${heat}
<script>${SCRIPT}</script>
</body></html>
`;
}
