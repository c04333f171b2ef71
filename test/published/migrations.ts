/**
 * README "Against published migrations": runs tracker on the published cases and prints the
 * markdown table with the error of each prediction. Run with
 *   npx tsc -p tsconfig.json && node dist/test/published/migrations.js
 *
 * Every guest is the `guest` model at its full size (8, 50 and 6 GiB), run as `tracker plan` runs
 * it: token memory, a counting page-xfer (nothing written), stationary writes advanced by sampling.
 * The inputs each case needs and its source does not give (the writable working set and how writes
 * fall on it) are stated in the row.
 */
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type DumpReport, type IterativeDumpOptions } from '../../src/migrate/iterative.js';
import { KUBEVIRT_DEFAULTS } from '../../src/migrate/policy-kubevirt.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const PAGE = 4096;

interface Guest {
  /** Memory, bytes (all of it populated). */
  memory: number;
  /** Writable working set, bytes, and the distinct bytes dirtied in 1 s (calc-dirty-rate's figure). */
  wss: number;
  dirtyRate: number;
  /** Memory that reads as zero (QEMU sends such pages as a flag). */
  zeroFraction?: number;
}

/** A set of `wss` bytes rewritten `times` a second: its 1-second dirty rate. */
function rewritten(wss: number, times: number): Guest['dirtyRate'] {
  return wss * (1 - Math.exp(-times));
}

function run(g: Guest, o: Partial<IterativeDumpOptions> & { bandwidth: number }): DumpReport {
  const params = { memory: Math.round(g.memory / PAGE), wss: Math.round(g.wss / PAGE), dirtyRate: g.dirtyRate, zeroFraction: g.zeroFraction ?? 0 };
  const count = { keep: false, iterations: [] };
  return iterativeDump({ ...DEFAULT_DUMP_OPTIONS, imagesDir: '', count, workload: 'guest', params, memoryModel: 'token', fast: true, seed: 1, kernel: '6.1', force: false, ...o });
}

function err(pred: number, meas: number): string {
  const e = ((pred - meas) / meas) * 100;
  return `${e >= 0 ? '+' : ''}${e.toFixed(0)} %`;
}

const rows: string[] = [];
const row = (cells: (string | number)[]) => rows.push(`| ${cells.join(' | ')} |`);
const s = (x: number) => `${x.toFixed(1)} s`;
const ms = (x: number) => `${Math.round(x * 1e3)} ms`;
const mib = (b: number) => `${Math.round(b / MiB).toLocaleString('en-US')} MiB`;

// 1. VEP 291's benchmark: 8 GiB, 1 Gbit/s (105 MiB/s of goodput: 9,694 MiB in 92.2 s and 11,862
//    MiB in 112.4 s), ~650 Mbit/s of dirtying, KubeVirt on QEMU, without and with VEP 291.
const vepBw = 105.1 * MiB;
const rate650 = (650e6 / 8);
// Two ends for the working set the VEP does not give: a 2 GiB set written spread out, and a hot
// set the size of one second's dirtying rewritten ten times a second.
const spread: Guest = { memory: 8 * GiB, wss: 2 * GiB, dirtyRate: rate650 };
const hot: Guest = { memory: 8 * GiB, wss: rate650 / (1 - Math.exp(-10)), dirtyRate: rate650 };
const kube = (tuning: boolean) => ({ policy: 'kubevirt' as const, bandwidth: vepBw, kubevirt: { vmBytes: 8 * GiB, downtimeTuning: tuning ? KUBEVIRT_DEFAULTS.downtimeTuning : null } });
const measured291 = { off: { it: 69, mib: 11862, total: 112.4, down: 0.451 }, on: { it: 28, mib: 9694, total: 92.2, down: 0.611 } };
// The VEP's own figures (both runs at 105 MiB/s on average) imply a bulk of about 7.1 GiB: the
// rest of its 8 GiB read as zero. Taken from the measured run, so shown apart from the two ends.
const spreadZero: Guest = { ...spread, zeroFraction: 0.11 };
for (const [name, g] of [['2 GiB spread', spread], ['77 MiB hot', hot], ['2 GiB spread, 11 % zero pages (from the VEP\'s bytes ÷ time)', spreadZero]] as const) {
  for (const tuning of [false, true]) {
    const r = run(g, kube(tuning));
    const m = tuning ? measured291.on : measured291.off;
    row([
      `VEP 291, 8 GiB, ${tuning ? 'with' : 'without'} tuning; assumed WWS ${name} (dirty ${Math.round((g.dirtyRate * 8) / 1e6)} Mbit/s)`,
      `${r.outcome}, ${r.iterations.length} it. (${m.it}: ${err(r.iterations.length, m.it)})${r.outcome === 'aborted' ? ` at ${s(r.total_time_s)}: ${r.stop_reason.replace(/\|/g, '/')}` : ''}`,
      `${mib(r.bytes_sent)} (${m.mib.toLocaleString('en-US')}: ${err(r.bytes_sent / MiB, m.mib)})`,
      `${s(r.total_time_s)} (${m.total}: ${err(r.total_time_s, m.total)})`,
      `${ms(r.downtime_s)} (${ms(m.down)}: ${err(r.downtime_s, m.down)})`,
    ]);
  }
}

// VEP 248's stall detection on the same guests (no published figures for this benchmark).
for (const [name, g] of [['2 GiB spread', spread], ['77 MiB hot', hot]] as const) {
  const r = run(g, { policy: 'kubevirt', bandwidth: vepBw, kubevirt: { vmBytes: 8 * GiB, stallDetection: KUBEVIRT_DEFAULTS.stallDetection } });
  row([`VEP 248 stall detection on the VEP 291 guest; assumed WWS ${name}`, `${r.outcome}, ${r.iterations.length} it. (not measured)`, mib(r.bytes_sent), s(r.total_time_s), ms(r.downtime_s)]);
}

// 2. VEP 291's 50 GiB example (illustrative in the VEP, not a measurement): ~700 Mbit/s dirty on
//    ~900 Mbit/s; without tuning never at 300 ms, with tuning near 600 ms.
const hot50: Guest = { memory: 50 * GiB, wss: 700e6 / 8, dirtyRate: rewritten(700e6 / 8, 10) };
for (const tuning of [false, true]) {
  const r = run(hot50, { ...kube(tuning), bandwidth: 900e6 / 8, kubevirt: { vmBytes: 50 * GiB, downtimeTuning: tuning ? KUBEVIRT_DEFAULTS.downtimeTuning : null } });
  row([
    `VEP 291 example, 50 GiB, ${tuning ? 'with' : 'without'} tuning; assumed WWS 83 MiB hot`,
    `${r.outcome}, ${r.iterations.length} it.${r.outcome === 'aborted' ? ` (${r.stop_reason})` : ''}`,
    mib(r.bytes_sent),
    s(r.total_time_s),
    `${ms(r.downtime_s)} (${tuning ? 'converges near 600 ms' : 'never at 300 ms'})`,
  ]);
}

// 3. Cloud Hypervisor PR #7799: 6 GiB at ~1.9 GiB/s, dirtying ~5.4 GiB per ~3 s pass; its loop
//    checks the estimate at pass ends (tracker's qemu-pass), 300 ms; measured est_downtime 2.7-3.0 s.
const chBw = 1986.83 * MiB;
// The set dirty after the 3.09 s bulk pass was 5418 MiB: uniform writes over all 6 GiB, whose
// 1-second dirty set is 6 GiB (1 - (1 - 5418/6144)^(1/3.09)).
const ch: Guest = { memory: 6 * GiB, wss: 6 * GiB, dirtyRate: 6 * GiB * (1 - (1 - 5418 / 6144) ** (1 / 3.09)) };
{
  const r = run(ch, { policy: 'qemu-pass', bandwidth: chBw, maxIters: 5 });
  const est = r.iterations.slice(1, -1).map((i) => i.expected_downtime_s);
  row([
    'Cloud Hypervisor, 6 GiB at 1.94 GiB/s; assumed writes uniform over all 6 GiB',
    `${r.converged ? 'converged' : 'not converged'}, ${r.iterations.length} it.`,
    `${mib(r.bytes_sent)} (27,825 MiB after 5 passes: ${err(r.bytes_sent / MiB, 27825)})`,
    s(r.total_time_s),
    `estimates ${est.map(ms).join(', ')} (2726-2969 ms: ${err(Math.min(...est), 2.726)} to ${err(Math.max(...est), 2.969)})`,
  ]);
}

// 4. QEMU on POWER8 (Balamuruhan S, 2019): 8 GiB, 866.83 Mbit/s, dirty-pages-rate 39,044 pages/s,
//    max-bandwidth unlimited: still running after 130.9 s and 6 syncs, expected downtime 1475 ms
//    (QEMU's figure) or 3478 ms (remaining / throughput, the author's).
const p8rate = 39044 * PAGE;
const p8spread: Guest = { memory: 8 * GiB, wss: p8rate * 10, dirtyRate: p8rate };
const p8hot: Guest = { memory: 8 * GiB, wss: p8rate / (1 - Math.exp(-10)), dirtyRate: p8rate };
for (const [name, g] of [['1.5 GiB spread', p8spread], ['153 MiB hot', p8hot]] as const) {
  const r = run(g, { policy: 'qemu', bandwidth: 866.83e6 / 8, maxBandwidth: Infinity, maxIters: 8 });
  const est = r.iterations[r.iterations.length - 2].expected_downtime_s;
  row([
    `QEMU POWER8, 8 GiB at 867 Mbit/s, 39,044 dirty pages/s; assumed WWS ${name}`,
    `${r.outcome} after ${r.iterations.length} it. (never converged)`,
    mib(r.bytes_sent),
    s(r.total_time_s),
    `pending at the last sync ${ms(est)} (QEMU's 1475 ms: ${err(est, 1.475)}; remaining/throughput 3478 ms: ${err(est, 3.478)})`,
  ]);
}

console.log('| case and assumptions | outcome, iterations (measured: error) | sent | total time | downtime |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
