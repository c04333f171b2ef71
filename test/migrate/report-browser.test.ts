/**
 * The --report page in a real browser: headless Chromium (Debian's chromium package; .ci/run
 * installs it) loads the page from a file with the network off, runs its script, dumps the DOM and
 * renders a PNG. The page must draw its charts and raise no script error; a page with a broken
 * script is the control that the check can fail.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { planReportInput, runPlan } from '../../src/migrate/plan.js';
import { renderReport, type ReportInput, type ReportRun } from '../../src/migrate/report.js';
import { CHROMIUM, chromium } from '../helpers/chromium.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * What the page's own script recorded on <html> and <body> once it ran; with `png`, a screenshot
 * of the window taken by the same Chromium (each launch costs about 2 s).
 */
function rendered(file: string, width = 800, png?: string): { dom: string; charts: number; rendered: boolean; error: string | null; wrapped: number; overflow: boolean } {
  const shot = png === undefined ? [] : ['--hide-scrollbars', `--screenshot=${png}`];
  const r = chromium(tmp, [`--window-size=${width},1400`, '--virtual-time-budget=5000', ...shot, '--dump-dom', `file://${file}`]);
  assert.equal(r.status, 0, r.stderr);
  const dom = r.stdout;
  const charts = /<body[^>]*data-charts="(\d+)"/.exec(dom);
  const error = /<html[^>]*data-script-error="([^"]*)"/.exec(dom);
  const wrapped = /<body[^>]*data-wrapped-cells="(\d+)"/.exec(dom);
  return {
    dom,
    charts: charts === null ? -1 : Number(charts[1]),
    rendered: /<body[^>]*data-rendered="yes"/.test(dom),
    error: error === null ? null : error[1],
    wrapped: wrapped === null ? -1 : Number(wrapped[1]),
    overflow: /<body[^>]*data-overflow="true"/.test(dom),
  };
}

/** The plan's page, made once for the tests that look at it (a plan of four combinations). */
let planPageOnce: Promise<{ file: string; html: string; combinations: number }> | null = null;
function planPage(): Promise<{ file: string; html: string; combinations: number }> {
  planPageOnce ??= makePlanPage();
  return planPageOnce;
}

async function makePlanPage(): Promise<{ file: string; html: string; combinations: number }> {
  const model = join(tmp, 'uniform.json');
  writeFileSync(model, JSON.stringify({ model: 'uniform', params: { heap: '8M', writeFraction: 0.5 } }));
  const outcome = await runPlan({
    workload: model,
    seed: 1,
    kernel: '6.1',
    bandwidths: [1e9 / 8, 10e9 / 8],
    policies: ['phaul', 'qemu'],
    downtimeLimit: 0.3,
    interval: { seconds: 0 },
    maxIters: 4,
    memoryBytes: 128 * 1024 * 1024,
    jobs: 0,
    heatmaps: true,
    tmpRoot: tmp,
  });
  const html = renderReport(planReportInput(outcome));
  const file = join(tmp, 'plan.html');
  writeFileSync(file, html);
  return { file, html, combinations: outcome.plan.rows.length };
}

test('the report is one self-contained page: nothing is fetched at view time', async () => {
  const { html } = await planPage();
  assert.doesNotMatch(html, /\b(src|href)\s*=/i, 'no external resources');
  assert.doesNotMatch(html, /@import|url\(/i);
  const urls = html.match(/https?:\/\/[^"'\s<]+/g) ?? [];
  assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg'], 'only the SVG namespace, which is a name, not a fetch');
  assert.equal((html.match(/<svg /g) ?? []).length, 2 + 4, 'pages and downtime charts, and one heat map per combination');
});

test('headless Chromium renders the charts with no script error, and a broken script is caught', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)` }, async () => {
  const { file, html, combinations } = await planPage();
  const png = join(tmp, 'plan.png');
  const ok = rendered(file, 820, png);
  assert.equal(ok.error, null, `script error: ${ok.error}`);
  assert.equal(ok.rendered, true, 'the page script ran to its end');
  assert.equal(ok.charts, 2 + combinations);
  assert.match(ok.dom, /<svg id="pages"[^>]*>.*<polyline/s, 'lines of pages per iteration');
  assert.match(ok.dom, /<svg id="downtime"[^>]*>.*class="limit"/s, 'the downtime limit');
  assert.match(ok.dom, /<svg id="heat-0"[^>]*>.*class="cell"/s, 'heat map cells');

  const data = readFileSync(png);
  assert.deepEqual([...data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.deepEqual([data.readUInt32BE(16), data.readUInt32BE(20)], [820, 1400], 'of the window size');
  assert.ok(data.length > 20_000, `a page with charts is not blank (${data.length} bytes)`);

  const broken = join(tmp, 'broken.html');
  writeFileSync(broken, html.replace('</body>', '<script>undefinedFunction();</script></body>'));
  const bad = rendered(broken);
  assert.match(bad.error ?? '', /undefinedFunction/, 'the check sees a script error');
});

/** A plan page with two combinations whose points are the same, one over the limit, and a single dump's page. */
function defectsPages(): { plan: ReportInput; single: ReportInput } {
  const it = (i: number, end: number, pages: number, type: 'pre-dump' | 'dump' = 'pre-dump') => ({ iteration: i, type, start_s: end / 2, end_s: end, pages_written: pages, expected_downtime_s: null });
  const run = (label: string, bandwidth: number, downtime: number, its: ReportRun['iterations']): ReportRun => ({ label, policy: label.split(' ')[0], bandwidth, converged: true, downtime_s: downtime, total_time_s: its[its.length - 1].end_s, bytes_sent: 1 << 24, stop_reason: 'reached --max-iters 10 (9 pre-dumps and the dump): did not converge, 2048 dirty pages need 671.1 ms > 300 ms', iterations: its, heatmap: { pages: 64, pages_per_bucket: 8, counts: [[8, 8, 8, 8, 8, 8, 8, 8], [1, 0, 2, 0, 4, 0, 8, 0], [0, 1, 0, 0, 0, 0, 0, 8]], types: ['pre-dump', 'pre-dump', 'dump'] } });
  const slow = [it(1, 5, 2048), it(2, 9, 0), it(3, 10, 1500, 'dump')];
  return {
    plan: { title: 'plan', subtitle: 's', downtime_limit_s: 0.3, runs: [run('phaul @ 100 Mbit/s', 12.5e6, 0.67, slow), run('qemu @ 100 Mbit/s', 12.5e6, 0.67, slow), run('qemu @ 10 Gbit/s', 1.25e9, 0.005, [it(1, 0.004, 2048), it(2, 0.006, 30, 'dump')])] },
    // One dump whose iterations all end between 0.13 s and 0.2 s: within one decade.
    single: { title: 'dump', subtitle: 's', downtime_limit_s: 0.3, runs: [run('phaul @ 1 GiB/s', 1 << 30, 0.006, [it(1, 0.13, 2048), it(2, 0.16, 900), it(3, 0.18, 800), it(4, 0.2, 700, 'dump')])] },
  };
}

test('12. the report\'s fixed defects: no 0 on a log axis, identical lines marked, red only for over the limit, a heat-map legend, no fixed width, a single dump spread over its time axis', () => {
  const { plan, single } = defectsPages();
  const html = renderReport(plan);
  const pages = /<svg id="pages".*?<\/svg>/s.exec(html)![0];
  const yTicks = [...pages.matchAll(/class="ytick">([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(yTicks, ['1', '10', '100', '1,000', '10,000'], 'a log axis starts at 1, never 0');
  assert.match(pages, /<circle [^>]*fill="#fff"/, 'a pre-dump that wrote nothing is drawn hollow');
  assert.equal((pages.match(/class="identical"/g) ?? []).length, 1, 'the second of two identical lines is dashed');
  assert.match(html, /qemu @ 100 Mbit\/s <em class="identical">\(same points as phaul @ 100 Mbit\/s\)<\/em>/);
  // Series colours never red; red marks only what is over the limit.
  const seriesFills = [...html.matchAll(/<g class="series"[^>]*><rect [^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
  const isRed = (c: string) => parseInt(c.slice(1, 3), 16) > 0xb0 && parseInt(c.slice(3, 5), 16) < 0x70 && parseInt(c.slice(5, 7), 16) < 0x70;
  assert.ok(seriesFills.length === 3 && seriesFills.every((c) => !isRed(c)), `bar colours ${seriesFills}`);
  assert.equal((html.match(/class="bar over"/g) ?? []).length, 2);
  assert.equal((html.match(/fill="url\(#hatch\)"/g) ?? []).length, 2, 'over-limit bars hatched');
  assert.match(html, /<li class="over-key">/);
  assert.ok(!/hsl\((0|[0-9]|1[0-9]|3[4-9][0-9]) /.test(html), 'the heat map scale stops short of red');
  assert.equal((html.match(/<p class="heat-legend">/g) ?? []).length, 3, 'a colour legend under every heat map');
  assert.doesNotMatch(html, /max-width:820px|<svg[^>]* width="\d+"/, 'no fixed page or chart width');
  // One dump within a decade: a linear axis, its last point in the right half.
  const one = /<svg id="pages".*?<\/svg>/s.exec(renderReport(single))![0];
  assert.match(one, /virtual time at the end of the iteration<\/text>/, 'a linear time axis');
  const xs = /<polyline points="([^"]+)"/.exec(one)![1].split(' ').map((p) => Number(p.split(',')[0]));
  assert.ok(Math.max(...xs) > 80 + 0.75 * (760 - 80 - 16) && Math.min(...xs) < 80 + 0.7 * (760 - 80 - 16), `x ${xs}`);
});

test('12. in Chromium at 800 and 1400 px: no wrapped number cells, no horizontal scroll, screenshots of the window size', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, () => {
  const file = join(tmp, 'defects.html');
  writeFileSync(file, renderReport(defectsPages().plan));
  for (const width of [800, 1400]) {
    const png = join(tmp, `defects-${width}.png`);
    const r = rendered(file, width, png);
    assert.equal(r.error, null);
    assert.equal(r.wrapped, 0, `${width} px: cells wrapped`);
    assert.equal(r.overflow, false, `${width} px: the page scrolls sideways`);
    assert.deepEqual([readFileSync(png).readUInt32BE(16), readFileSync(png).readUInt32BE(20)], [width, 1400]);
  }
});
