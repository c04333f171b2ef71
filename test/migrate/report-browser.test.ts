/**
 * The --report page in a real browser: headless Chromium (Debian's chromium package; .ci/run
 * installs it) loads the page from a file with the network off, runs its script, dumps the DOM and
 * renders a PNG. The page must draw its charts and raise no script error; a page with a broken
 * script is the control that the check can fail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { planReportInput, runPlan } from '../../src/migrate/plan.js';
import { renderReport } from '../../src/migrate/report.js';

const CHROMIUM = '/usr/bin/chromium';
const tmp = mkdtempSync(join(tmpdir(), 'tracker-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function chromium(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What the page's own script recorded on <html> and <body> once it ran. */
function rendered(file: string): { dom: string; charts: number; rendered: boolean; error: string | null } {
  const r = chromium(['--virtual-time-budget=5000', '--dump-dom', `file://${file}`]);
  assert.equal(r.status, 0, r.stderr);
  const dom = r.stdout;
  const charts = /<body[^>]*data-charts="(\d+)"/.exec(dom);
  const error = /<html[^>]*data-script-error="([^"]*)"/.exec(dom);
  return { dom, charts: charts === null ? -1 : Number(charts[1]), rendered: /<body[^>]*data-rendered="yes"/.test(dom), error: error === null ? null : error[1] };
}

async function planPage(): Promise<{ file: string; html: string; combinations: number }> {
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
  const ok = rendered(file);
  assert.equal(ok.error, null, `script error: ${ok.error}`);
  assert.equal(ok.rendered, true, 'the page script ran to its end');
  assert.equal(ok.charts, 2 + combinations);
  assert.match(ok.dom, /<svg id="pages"[^>]*>.*<polyline/s, 'lines of pages per iteration');
  assert.match(ok.dom, /<svg id="downtime"[^>]*>.*class="limit"/s, 'the downtime limit');
  assert.match(ok.dom, /<svg id="heat-0"[^>]*>.*class="cell"/s, 'heat map cells');

  const png = join(tmp, 'plan.png');
  const shot = chromium(['--window-size=820,1400', '--hide-scrollbars', `--screenshot=${png}`, `file://${file}`]);
  assert.equal(shot.status, 0, shot.stderr);
  const data = readFileSync(png);
  assert.deepEqual([...data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.deepEqual([data.readUInt32BE(16), data.readUInt32BE(20)], [820, 1400], 'of the window size');
  assert.ok(data.length > 20_000, `a page with charts is not blank (${data.length} bytes)`);

  const broken = join(tmp, 'broken.html');
  writeFileSync(broken, html.replace('</body>', '<script>undefinedFunction();</script></body>'));
  const bad = rendered(broken);
  assert.match(bad.error ?? '', /undefinedFunction/, 'the check sees a script error');
});
