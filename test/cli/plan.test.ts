/**
 * The command line of the time model: units, `tracker plan`, `dump --iterative --report`, and
 * that a plan row is what `tracker dump --iterative` prints for the same options.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseBandwidth, parseDuration, parseSeconds } from '../../src/cli/units.js';
import { ROOT } from '../helpers/root.js';
import { trackerAsync } from '../helpers/cli.js';
import { startTracker } from '../helpers/spawn.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-plan-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const MODEL = join(tmp, 'small.json');
writeFileSync(MODEL, JSON.stringify({ model: 'hot-cold', params: { heap: '8M', hotSet: '1M' } }));

/** In-process (test/helpers/cli.ts), with this file's scratch folder as TMPDIR. */
const tracker = (...args: string[]) => trackerAsync(args, { env: { TMPDIR: tmp } });

test('durations take units or steps; bandwidths take bytes (binary) or bits (decimal)', () => {
  const d = parseDuration('--interval');
  assert.deepEqual(d('0'), { seconds: 0 });
  assert.deepEqual(d('250ms'), { seconds: 0.25 });
  assert.deepEqual(d('2s'), { seconds: 2 });
  assert.deepEqual(d('1.5min'), { seconds: 90 });
  assert.deepEqual(d('200000'), { steps: 200_000 });
  for (const bad of ['-1s', '2 parsecs', '1e3', 'ms', '']) assert.throws(() => d(bad), /--interval must be a duration/, bad);
  assert.throws(() => parseSeconds('--downtime-limit')('300'), /needs a unit/);
  const b = parseBandwidth('--bandwidth');
  assert.equal(b('10Gbit'), 1.25e9);
  assert.equal(b('100Mbit/s'), 12.5e6);
  assert.equal(b('1Gbps'), 1.25e8);
  assert.equal(b('1G'), 1024 ** 3);
  assert.equal(b('100M/s'), 100 * 1024 ** 2);
  for (const bad of ['fast', '-1G', '10Gbitz', '0bit']) assert.throws(() => b(bad), /--bandwidth must/, bad);
});

test('tracker plan --json: one row per combination, the best one, and no temporary files left', async () => {
  const r = await tracker('plan', '--workload', MODEL, '--bandwidth', '100Mbit,10Gbit', '--policy', 'phaul,qemu', '--max-iters', '4', '--jobs', '2', '--json');
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { rows: Record<string, unknown>[]; best: Record<string, unknown> | null; recommendation: string };
  assert.deepEqual(plan.rows.map((x) => [x.policy, x.bandwidth]), [['phaul', 12.5e6], ['phaul', 1.25e9], ['qemu', 12.5e6], ['qemu', 1.25e9]]);
  for (const row of plan.rows) {
    for (const k of ['policy', 'bandwidth', 'iterations', 'converged', 'bytes_sent', 'downtime_s', 'total_time_s']) assert.ok(k in row, k);
  }
  assert.notEqual(plan.best, null);
  assert.match(plan.recommendation, /^use /);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('tracker-plan-')), [], 'temporary images removed');

  // The qemu row at 10 Gbit/s is what dump --iterative reports with the same options (plan runs --fast).
  const d = await tracker('dump', '--iterative', '-D', join(tmp, 'd'), '--workload', MODEL, '--bandwidth', '10Gbit', '--policy', 'qemu', '--max-iters', '4', '--fast', '--json');
  assert.equal(d.status, 0, d.stderr);
  const dump = JSON.parse(d.stdout) as Record<string, unknown> & { iterations: unknown[] };
  const row = plan.rows[3];
  assert.deepEqual(
    [row.iterations, row.converged, row.bytes_sent, row.downtime_s, row.total_time_s],
    [dump.iterations.length, dump.converged, dump.bytes_sent, dump.downtime_s, dump.total_time_s],
  );
  assert.equal(dump.bandwidth, 1.25e9, 'bandwidth in bytes per second');
});

test('tracker plan prints a table and says what would have to change when nothing meets the limit', async () => {
  const r = await tracker('plan', '--workload', MODEL, '--bandwidth', '10Mbit', '--policy', 'qemu', '--max-iters', '3', '--jobs', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^qemu +10 Mbit\/s +3 +no /m);
  assert.match(r.stdout, /recommendation: no combination keeps the downtime within 300\.0 ms.*raise --downtime-limit.*at least [\d.]+ Mbit\/s/);
});

test('dump --iterative --report writes one HTML page with the charts; bad plan input exits 2 in one line', async () => {
  const page = join(tmp, 'dump.html');
  const r = await tracker('dump', '--iterative', '-D', join(tmp, 'r'), '--workload', MODEL, '--policy', 'qemu', '--bandwidth', '1Gbit', '--report', page);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /stopped: .*(fit threshold_size|threshold_size still 0).*\(converged\)/);
  assert.match(r.stdout, /exp\. downtime/);
  const html = readFileSync(page, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  for (const id of ['pages', 'downtime', 'heat-0']) assert.match(html, new RegExp(`<svg id="${id}"`));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
  for (const args of [['plan', '--bandwidth', 'fast'], ['plan', '--policy', 'phaul,nope'], ['dump', '--iterative', '--interval', '2 parsecs'], ['dump', '--iterative', '--auto-converge'], ['run', '--sample-interval', '0s']]) {
    const b = await tracker(...args);
    assert.equal(b.status, 2, `${args.join(' ')}: ${b.stderr}`);
    assert.match(b.stderr, /^tracker: [^\n]+\n(\(run with --help for usage\)\n)?$/, args.join(' '));
  }
  assert.equal(existsSync(join(tmp, 'tracker-images')), false);
});

test('op scripts take --rate: the same script at twice the rate takes half the virtual time', async () => {
  const script = 'fuzz-chain.ops';
  const run = async (rate: string) => {
    const r = await tracker('run', '--workload', join(ROOT, 'fixtures', 'ops', script), '--rate', rate, '--duration', '200', '--sample-interval', '100', '--json');
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { rate: number; totals: { virtual_seconds: number } };
  };
  const a = await run('1000');
  const b = await run('2k');
  assert.deepEqual([a.rate, b.rate], [1000, 2000]);
  assert.ok(Math.abs(a.totals.virtual_seconds - 2 * b.totals.virtual_seconds) < 1e-12);
});

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`5. ${sig} during a plan: one line, exit ${code}, no stack, no temporary images left, within a second`, async () => {
    const dir = mkdtempSync(join(tmp, 'int-'));
    const { child, done } = startTracker(['plan', '--bandwidth', '10Mbit,1Gbit', '--policy', 'phaul,qemu', '--jobs', '2'], { env: { TMPDIR: dir } });
    // Wait until the plan has made its temporary folder (it counts instead of writing images), then
    // let the combinations run a moment: the whole plan takes seconds.
    const started = () => readdirSync(dir).length > 0;
    for (let i = 0; i < 400 && !started(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(started(), 'the plan started');
    await new Promise((r) => setTimeout(r, 400));
    const t0 = Date.now();
    child.kill(sig);
    const r = await done;
    const ms = Date.now() - t0;
    assert.equal(r.status, code, r.stderr);
    assert.equal(r.stderr, `tracker: plan interrupted; the combinations' temporary images were removed (${sig})\n`);
    assert.deepEqual(readdirSync(dir), []);
    assert.ok(ms < 1500, `${ms} ms`);
  });
}

test('pre-dumps scripted by hand with --interval 20ms give the images of dump --iterative --interval 20ms', async () => {
  const a = join(tmp, 'byhand');
  const b = join(tmp, 'iterative');
  const ok = async (...args: string[]) => assert.equal((await tracker(...args)).status, 0, args.join(' '));
  await ok('pre-dump', '-D', join(a, '1'), '--workload', MODEL, '--interval', '20ms', '--track-mem');
  await ok('pre-dump', '-D', join(a, '2'), '--prev-images-dir', '../1', '--interval', '20ms', '--track-mem');
  await ok('dump', '-D', join(a, '3'), '--prev-images-dir', '../2', '--interval', '20ms', '--track-mem');
  await ok('dump', '--iterative', '-D', b, '--workload', MODEL, '--policy', 'fixed', '--iterations', '3', '--interval', '20ms');
  for (const it of ['1', '2', '3']) {
    for (const f of readdirSync(join(b, it))) assert.ok(readFileSync(join(a, it, f)).equals(readFileSync(join(b, it, f))), `${it}/${f}`);
  }
  const r = await tracker('dump', '-D', join(a, '4'), '--prev-images-dir', '../2', '--track-mem', '--rate', '5M');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--rate goes with dump --iterative/);
});
