/**
 * The time model against arithmetic (not against itself): a uniform writer's dirty set,
 * back-to-back iterations driven by the previous transfer, --interval, QEMU's downtime limit,
 * and `run`'s dirty rate. Small heaps, in-process.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_DUMP_OPTIONS, type DumpReport, type IterativeDumpOptions } from '../../src/migrate/iterative.js';
import { dumper } from '../helpers/dump.js';
import { Kernel } from '../../src/mm/kernel.js';
import { planRow, runPlan } from '../../src/migrate/plan.js';
import { createWorkload } from '../../src/workload/index.js';
import { runMeasured } from '../../src/migrate/run.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-time-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PAGE = 4096;
const MIB = 1024 * 1024;
/** The uniform writer under test: N pages, W = rate x writeFraction page writes per second. */
const N = 16384;
const RATE = 1_000_000;
const W = RATE * 0.5;
const UNIFORM = { heap: N, writeFraction: 0.5, rate: RATE };
/** The same writer as a model file, for dump --iterative (which takes a workload spec). */
const UNIFORM_FILE = join(tmp, 'uniform.json');
writeFileSync(UNIFORM_FILE, JSON.stringify({ model: 'uniform', params: UNIFORM }));
/** A smaller one where only the policies are under test. */
const SMALL_FILE = join(tmp, 'uniform-small.json');
writeFileSync(SMALL_FILE, JSON.stringify({ model: 'uniform', params: { ...UNIFORM, heap: 4096 } }));

function expectedDirty(seconds: number): number {
  return N * (1 - Math.exp((-W * seconds) / N));
}

function within(actual: number, expected: number, tolerance: number, what: string): void {
  const err = Math.abs(actual - expected) / expected;
  assert.ok(err <= tolerance, `${what}: ${actual} vs ${expected.toFixed(1)} (${(err * 100).toFixed(2)}% off, over ${tolerance * 100}%)`);
}

const dumpAt = dumper(tmp, { workload: 'uniform', memoryBytes: 256 * MIB, interval: DEFAULT_DUMP_OPTIONS.interval, policy: DEFAULT_DUMP_OPTIONS.policy, iterations: DEFAULT_DUMP_OPTIONS.iterations });
const dump = (extra: Partial<IterativeDumpOptions>): DumpReport => dumpAt(extra).report;

test('a uniform writer dirties N(1 - e^(-Wt/N)) pages in t virtual seconds', () => {
  for (const t of [0.004, 0.016, 0.064]) {
    const p = createWorkload(new Kernel({ memoryBytes: 256 * MIB }), 'uniform', 1, UNIFORM);
    const r = runMeasured(p, { duration: { seconds: 3 * t }, sampleInterval: { seconds: t } });
    assert.equal(r.samples.length, 3);
    for (const s of r.samples) {
      assert.equal(s.seconds, t);
      within(s.dirty_pages!, expectedDirty(t), 0.03, `t = ${t * 1e3} ms`);
    }
  }
});

test("run's dirty rate equals W x 4096 bytes a second for short intervals", () => {
  const p = createWorkload(new Kernel({ memoryBytes: 256 * MIB }), 'uniform', 1, UNIFORM);
  const r = runMeasured(p, { duration: { seconds: 0.02 }, sampleInterval: { seconds: 0.0001 } });
  assert.equal(r.samples.length, 200);
  within(r.dirty_rate_mib_per_s!, (W * PAGE) / MIB, 0.03, 'mean dirty rate (MiB/s)');
  assert.equal(r.warm_up_steps, N + 1, 'the mmap and one write per page ran before measuring');
});

/**
 * Back to back (interval 0), the process runs only while the pages of the previous iteration
 * leave: pages(k+1) = N (1 - e^(-W T_k / N)) with T_k = pages(k) x 4096 / bandwidth (+ interval).
 */
function checkChain(r: DumpReport, bandwidth: number, interval: number): { predicted: number; actual: number }[] {
  const out: { predicted: number; actual: number }[] = [];
  for (let k = 1; k < r.iterations.length; k++) {
    const prev = r.iterations[k - 1];
    const t = (prev.pages_written * PAGE) / bandwidth + interval;
    within(prev.running_s + interval, t, 1e-9, `iteration ${k} ran for the transfer time`);
    const predicted = expectedDirty(t);
    out.push({ predicted, actual: r.iterations[k].pages_written });
    within(r.iterations[k].pages_written, predicted, 0.03, `iteration ${k + 1} at ${bandwidth} B/s`);
  }
  return out;
}

test('back-to-back iterations follow from the previous transfer time, at two bandwidths and in both modes', () => {
  // W x 4096 = 2.048e9 B/s: at twice that each iteration roughly halves what is dirty; at half of
  // it the dirty set settles near 80 % of the heap and pre-copy cannot converge.
  for (const [bandwidth, mode] of [[4.096e9, 'splice'], [1.024e9, 'splice'], [4.096e9, 'read']] as const) {
    const r = dump({ workload: UNIFORM_FILE, policy: 'fixed', iterations: 3, bandwidth, preDumpMode: mode, rate: RATE, interval: { seconds: 0 } });
    assert.equal(r.iterations[0].pages_written, N, 'the first pre-dump copies the populated heap');
    checkChain(r, bandwidth, 0);
  }
});

test('--interval adds its time to what the workload runs between iterations', () => {
  const bandwidth = 4.096e9;
  const interval = 0.004;
  const r = dump({ workload: UNIFORM_FILE, policy: 'fixed', iterations: 3, bandwidth, rate: RATE, interval: { seconds: interval } });
  checkChain(r, bandwidth, interval);
  const gaps = r.iterations.slice(1).map((it, k) => it.start_s - (r.iterations[k].start_s + r.iterations[k].duration_s));
  for (const g of gaps) within(g, interval, 1e-9, 'gap between iterations');
  const back = dump({ workload: UNIFORM_FILE, policy: 'fixed', iterations: 3, bandwidth, rate: RATE, interval: { seconds: 0 } });
  assert.ok(r.iterations[2].pages_written > back.iterations[2].pages_written * 1.2, 'the interval dirties more');
});

test('the rate scales time: twice the rate dirties like twice the transfer time', () => {
  const bandwidth = 4.096e9;
  const r = dump({ workload: UNIFORM_FILE, policy: 'fixed', iterations: 2, bandwidth, rate: 2 * RATE, interval: { seconds: 0 } });
  const t = (N * PAGE) / bandwidth;
  within(r.iterations[1].pages_written, N * (1 - Math.exp((-2 * W * t) / N)), 0.03, 'pages at twice the rate');
});

test('qemu: a converged dump stays within the downtime limit, a dump that did not converge says so', () => {
  const hot = { workload: join(tmp, 'hot.json'), policy: 'qemu' as const, interval: { seconds: 0 } };
  // hot-cold, 4 MiB heap, 1 MiB hot set, 100k accesses/s: the hot set alone needs 84 ms at
  // 100 Mbit/s, 1.7 s at 5 Mbit/s.
  writeFileSync(hot.workload, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '1M', rate: 100_000 } }));
  let converged = 0;
  let not = 0;
  for (const bits of [5e6, 10e6, 100e6, 1e9]) {
    const r = dump({ ...hot, bandwidth: bits / 8, downtimeLimit: 0.3, maxIters: 5 });
    if (r.converged) {
      converged++;
      assert.ok(r.downtime_s < 0.3, `${bits} bit/s: downtime ${r.downtime_s} s over the limit`);
      assert.match(r.stop_reason, /fit the downtime limit/);
    } else {
      not++;
      assert.ok(r.downtime_s >= 0.3, `${bits} bit/s: not converged with downtime ${r.downtime_s}`);
      assert.match(r.stop_reason, /did not converge/);
      assert.equal(r.iterations.length, 5);
    }
    assert.ok(r.iterations.length >= 2, 'the first pass always runs');
  }
  assert.ok(converged >= 2 && not >= 1, `${converged} converged, ${not} did not`);
});

test('the default workload under qemu converges on 10 Gbit/s and not on 100 Mbit/s', () => {
  const fast = dump({ workload: 'hot-cold', memoryBytes: undefined, policy: 'qemu', bandwidth: 10e9 / 8 });
  assert.equal(fast.converged, true, fast.stop_reason);
  assert.ok(fast.downtime_s < 0.3);
  // Bounded to 3 iterations to keep the test short: the hot set alone needs 0.67 s at 100 Mbit/s.
  const slow = dump({ workload: 'hot-cold', memoryBytes: undefined, policy: 'qemu', bandwidth: 100e6 / 8, maxIters: 3 });
  assert.equal(slow.converged, false);
  assert.ok(slow.downtime_s > 0.3);
  assert.ok(slow.iterations.every((i) => i.type === 'dump' || i.expected_downtime_s > 0.3), 'no point at which stopping would have fit');
});

test('auto-converge throttles the workload 20 %, then 10 % more, and the dirty sets shrink', () => {
  const r = dump({ workload: SMALL_FILE, policy: 'qemu', bandwidth: 1.024e9, rate: RATE, autoConverge: true, maxIters: 8, downtimeLimit: 0.001 });
  const throttles = r.iterations.map((i) => i.throttle_pct);
  assert.deepEqual(throttles.slice(0, 3), [0, 0, 20], throttles.join(','));
  assert.ok(throttles.includes(30));
  const plain = dump({ workload: SMALL_FILE, policy: 'qemu', bandwidth: 1.024e9, rate: RATE, maxIters: 8, downtimeLimit: 0.001 });
  assert.ok(r.iterations[7].pages_written < plain.iterations[7].pages_written * 0.9, `${r.iterations[7].pages_written} vs ${plain.iterations[7].pages_written}`);
});

test('go-phaul does one pre-dump and the dump (its first comparison is with an empty one)', () => {
  const r = dump({ workload: SMALL_FILE, policy: 'go-phaul', bandwidth: 4.096e9, rate: RATE });
  assert.deepEqual(r.iterations.map((i) => i.type), ['pre-dump', 'dump']);
  assert.match(r.stop_reason, /empty one/);
});

test('plan rows equal dump --iterative with the same options, whatever the number of workers, and leave no files', async () => {
  const root = mkdtempSync(join(tmp, 'plan-'));
  const base = { workload: SMALL_FILE, seed: 3, kernel: '6.1' as const, downtimeLimit: 0.3, interval: { seconds: 0 }, rate: RATE, memoryBytes: 256 * MIB, tmpRoot: root };
  const opts = { ...base, bandwidths: [1.024e9, 4.096e9], policies: ['phaul' as const, 'qemu' as const], maxIters: 4 };
  const inThread = await runPlan({ ...opts, jobs: 0 });
  const twoWorkers = await runPlan({ ...opts, jobs: 2 });
  assert.deepEqual(twoWorkers.plan, inThread.plan);
  assert.deepEqual(readdirSync(root), [], 'temporary images are removed');
  const rows = inThread.plan.rows;
  assert.deepEqual(rows.map((r) => [r.policy, r.bandwidth]), [['phaul', 1.024e9], ['phaul', 4.096e9], ['qemu', 1.024e9], ['qemu', 4.096e9]]);
  for (const row of rows) {
    const d = dump({ workload: SMALL_FILE, seed: 3, policy: row.policy, bandwidth: row.bandwidth, rate: RATE, maxIters: 4, downtimeLimit: 0.3 });
    assert.deepEqual(planRow(d), row);
  }
  const best = inThread.plan.best;
  assert.ok(best !== null && best.meets_limit);
  for (const r of rows) if (r.meets_limit) assert.ok(r.total_time_s >= best.total_time_s);
});
