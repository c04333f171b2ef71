/**
 * The engines against arithmetic: QEMU's mid-pass switchover, auto-converge's 1 s period and 5 s
 * sync, dirty-limit, and KubeVirt's VEP 291 ramp and VEP 248 stall detection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runQemu, QEMU_DEFAULTS, type QemuOptions, type MonitorView } from '../../src/migrate/qemu.js';
import { KubevirtMonitor, KUBEVIRT_DEFAULTS, tuningLevels, type KubevirtOptions } from '../../src/migrate/policy-kubevirt.js';
import { PageRuns } from '../../src/migrate/page-runs.js';
import { SyntheticGuest } from '../helpers/synthetic-guest.js';

const PAGE = 4096;
const MIB100 = 100 * 1024 * 1024;

function qemu(extra: Partial<QemuOptions> = {}): QemuOptions {
  return {
    bandwidth: MIB100,
    maxBandwidth: Infinity,
    availSwitchoverBandwidth: 0,
    downtimeLimit: 0.3,
    autoConverge: false,
    periodicSync: true,
    dirtyLimit: 0,
    vcpus: 1,
    throttleInitial: QEMU_DEFAULTS.throttleInitial,
    throttleIncrement: QEMU_DEFAULTS.throttleIncrement,
    throttleMax: QEMU_DEFAULTS.throttleMax,
    throttleTriggerPercent: QEMU_DEFAULTS.throttleTriggerPercent,
    maxIters: 1000,
    switchoverCost: 0,
    ...extra,
  };
}

test('page runs: sending in order; after a sync the set goes on from where sending stopped, wrapping', () => {
  const a = new PageRuns();
  a.push(0, 10);
  a.push(20, 10);
  assert.equal(a.send(12), 12);
  const unsent: number[][] = [];
  a.forEachUnsent((s, l) => unsent.push([s, l]));
  assert.deepEqual(unsent, [[22, 8]]);
  const b = new PageRuns();
  b.push(5, 2);
  b.push(25, 10);
  const u = a.unsentUnion(b);
  assert.equal(u.pages, 2 + 13);
  // Sending stopped at page 22: the pages from 22 on go first, then those below it (QEMU's
  // page search goes on from last_page and wraps at the end of RAM).
  assert.deepEqual([u.start[0], u.len[0], u.start[1], u.len[1]], [22, 13, 5, 2]);
  u.send(14);
  assert.equal(u.position, 6);
  const v = u.unsentUnion(b);
  assert.deepEqual([v.n, v.start[0], v.len[0], v.start[1], v.len[1], v.start[2], v.len[2]], [3, 6, 1, 25, 10, 5, 1]);
});

test('qemu: switches over mid-pass at the chunk where the estimate first falls under threshold_size', () => {
  // 100 MiB/s: a chunk is 50 ms = 1280 pages; threshold = 0.3 s x 100 MiB/s = 7680 pages from the
  // first 100 ms window on. The bulk pass has 20000 pages: after chunk k, 20000 - 1280k are left,
  // first under 7680 at k = 10 (7200 left, t = 0.5 s). The guest dirtied 400 pages outside RAM by
  // then: exact = 7600 pages < 7680, so QEMU completes at 0.5 s, 7200 pages before the pass's end.
  const g = new SyntheticGuest(20000, 4000, 400, 100000);
  const r = runQemu(g, qemu());
  assert.equal(r.outcome, 'converged');
  assert.equal(r.passes.length, 1, 'no second pass: the decision came in the middle of the first');
  assert.ok(Math.abs(r.passes[0].end_s - 0.5) < 1e-9, `switchover at ${r.passes[0].end_s}`);
  assert.equal(r.passes[0].pages_sent, 12800);
  assert.equal(r.final_pages, 7600);
  assert.ok(Math.abs(r.downtime_s - (7600 * PAGE) / MIB100) < 1e-12);
  assert.ok(r.downtime_s < 0.3 && r.downtime_s > 0.29, 'QEMU switches over close to its limit');
});

test('qemu: when the exact count is over the threshold, the sync begins a new pass instead', () => {
  // Same, but 1000 hot pages: exact = 7200 + 1000 = 8200 > 7680 at 0.5 s: a pass sync, then the
  // second pass (8200 pages) ends as soon as its estimate is under 7680 and the dirty set fits.
  const g = new SyntheticGuest(20000, 4000, 1000, 100000);
  const r = runQemu(g, qemu());
  assert.equal(r.passes[1].cause, 'estimate under threshold');
  assert.ok(Math.abs(r.passes[1].start_s - 0.5) < 1e-9);
  assert.equal(r.passes[1].pages_pending, 8200);
  assert.equal(r.outcome, 'converged');
  assert.ok(r.downtime_s < 0.3);
});

test('qemu: threshold_size is 0 until the first 100 ms window ends, not until a pass ends', () => {
  // A 2000-page guest is sent in 80 ms (< one window): the estimate reaches 0 with threshold 0
  // and QEMU completes (pending == 0) without a second pass; a 100 ms window later would not matter.
  const g = new SyntheticGuest(2000, 0, 0);
  const r = runQemu(g, qemu());
  assert.equal(r.passes.length, 1);
  assert.equal(r.final_pages, 0);
  assert.equal(r.passes[0].pages_sent, 2000);
});

test('qemu: max-bandwidth caps the rate per 100 ms window; avail-switchover-bandwidth sets the threshold', () => {
  const g = new SyntheticGuest(40000, 0, 0);
  // A 1 GiB/s link capped at 100 MiB/s: 2560 pages per 100 ms window, then a wait for its end;
  // threshold 7680 pages: after 13 windows (6720 left, t = 1.3 s) QEMU completes, and the rest
  // leaves at the link's speed (ram_save_complete ignores the rate limit).
  const r = runQemu(g, qemu({ bandwidth: 1024 * 1024 * 1024, maxBandwidth: MIB100 }));
  assert.ok(Math.abs(r.passes[0].end_s - 1.3) < 1e-9, `${r.passes[0].end_s}`);
  assert.equal(r.passes[0].pages_sent, 13 * 2560);
  assert.equal(r.final_pages, 6720);
  assert.ok(Math.abs(r.downtime_s - (6720 * PAGE) / 1024 ** 3) < 1e-12);
  // Claiming 1 GiB/s at the switchover makes the threshold 300 MiB: the whole guest fits after 100 ms.
  const g2 = new SyntheticGuest(40000, 1000, 1000, 100000);
  const r2 = runQemu(g2, qemu({ availSwitchoverBandwidth: 1024 ** 3 }));
  assert.ok(Math.abs(r2.passes[0].end_s - 0.1) < 1e-9, `${r2.passes[0].end_s}`);
  assert.ok(r2.downtime_s > 1, 'the real link then takes longer than the limit');
});

test('auto-converge: never before 1 s, only at a sync, 20 % then +10 %', () => {
  // A guest rewriting 9000 pages against a 7680-page threshold: a pass sync every 0.1 s; the old
  // per-iteration check throttled at the second one. QEMU looks only when a >1 s period ends.
  const g = new SyntheticGuest(9000, 500000, 9000);
  const r = runQemu(g, qemu({ autoConverge: true, maxIters: 60 }));
  assert.ok(r.passes.filter((p) => p.start_s < 1).length >= 3, 'several syncs before 1 s');
  assert.notEqual(r.throttled_at_s, null);
  assert.ok(r.throttled_at_s! > 1, `throttled at ${r.throttled_at_s}`);
  const first = r.passes.find((p) => p.throttle_pct > 0)!;
  assert.equal(first.throttle_pct, 20);
  assert.ok(r.passes.some((p) => Math.abs(p.start_s - r.throttled_at_s!) < 1e-9), 'the throttle changes at a sync');
  const levels = [...new Set(r.passes.map((p) => p.throttle_pct))];
  assert.deepEqual(levels.slice(0, 3), [0, 20, 30]);
});

test('auto-converge (QEMU 9.2): a pass longer than 5 s is cut by the periodic sync', () => {
  // 10 MiB/s against 40000 pages: the bulk pass takes ~14 s (no forced sync while dirty-sync-count
  // is 1); then passes of ~30000 pages last ~11 s, and the timer syncs at the 5 s ticks that saw none.
  const g = new SyntheticGuest(40000, 100000, 30000);
  const r = runQemu(g, qemu({ bandwidth: MIB100 / 10, autoConverge: true, maxIters: 8 }));
  const periodic = r.passes.filter((p) => p.cause === 'periodic 5 s sync');
  assert.ok(periodic.length > 0);
  for (const p of periodic) assert.ok(Math.abs(p.start_s / 5 - Math.round(p.start_s / 5)) < 0.02, `${p.start_s}`);
  assert.ok(periodic.every((p) => p.start_s > r.passes[1].start_s), 'none during the bulk stage');
  const off = runQemu(new SyntheticGuest(40000, 100000, 30000), qemu({ bandwidth: MIB100 / 10, autoConverge: true, periodicSync: false, maxIters: 8 }));
  assert.equal(off.passes.filter((p) => p.cause === 'periodic 5 s sync').length, 0);
});

test('dirty-limit: once triggered, it throttles the guest towards vcpus x vcpu-dirty-limit and converges where plain QEMU does not', () => {
  // 8 vCPUs at 1 MB/s each: 8 MB/s = ~1953 pages/s against a guest that dirties 50000 pages/s.
  const g = new SyntheticGuest(40000, 50000, 20000, 100000);
  const r = runQemu(g, qemu({ dirtyLimit: 1e6, vcpus: 8, maxIters: 60 }));
  // 50000 pages/s held to ~1953: a throttle of ~96 % (measured on distinct pages, as the ring counts them).
  assert.ok(r.throttle_pct >= 90, `throttle ${r.throttle_pct}`);
  assert.equal(r.outcome, 'converged');
  const without = runQemu(new SyntheticGuest(40000, 50000, 20000, 100000), qemu({ maxIters: 60 }));
  assert.equal(without.outcome, 'bound');
});

test('VEP 291: max_downtime 150 -> 300 -> ... -> 1050 ms, 10 s apart, once iteration 3 is reached', () => {
  const levels = tuningLevels(KUBEVIRT_DEFAULTS.downtimeTuning, 1050);
  assert.deepEqual(levels, [150, 300, 450, 600, 750, 900, 1050]);
  const m = new KubevirtMonitor(kv({ downtimeTuning: KUBEVIRT_DEFAULTS.downtimeTuning }));
  const set: { t: number; ms: number }[] = [];
  // The VEP's table: iteration 3 at ~75 s (the bulk copy takes 0-70 s), then ~1 iteration/s.
  for (let k = 1; k <= 500; k++) {
    const t = k * 0.4;
    const iteration = t < 70 ? 1 : t < 75 ? 2 : 3 + Math.floor(t - 75);
    for (const a of m.poll(view(t, iteration))) if (a.kind === 'set-downtime') set.push({ t, ms: Math.round(a.seconds * 1e3) });
  }
  assert.deepEqual(
    set.map((s) => s.ms),
    [150, 300, 450, 600, 750, 900, 1050],
  );
  assert.ok(set[0].t < 1, 'the initial level at the first monitoring pass');
  const start = 75.2; // the first poll at iteration 3: the cooldown starts
  set.slice(1).forEach((s, i) => assert.ok(Math.abs(s.t - (start + 10 * (i + 1))) < 0.41, `step ${i + 1} at ${s.t}`));
});

test('VEP 248: a stall is declared against the minimum 40 s back, and the switch waits for a local minimum', () => {
  const m = new KubevirtMonitor(kv({ stallDetection: KUBEVIRT_DEFAULTS.stallDetection }));
  m.poll({ ...view(0.4, 1), bandwidth: 100e6 });
  const MiB = 1024 * 1024;
  // Remaining falls to 60 MiB at 20 s, then oscillates 60..100 MiB every 10 s.
  const remaining = (t: number) => (t <= 20 ? (1000 - 47 * t) * MiB : (t / 10) % 2 < 1 ? 100 * MiB : 60 * MiB);
  const acts: { t: number; kind: string; why: string }[] = [];
  for (let t = 2; t <= 200; t += 2) for (const a of m.onPass({ ...view(t, t / 2), remainingBytes: remaining(t), bandwidth: 100e6 })) acts.push({ t, kind: a.kind, why: a.why });
  assert.equal(acts.length, 1, JSON.stringify(acts));
  // No stall before 40 s of history; detection when remaining >= 96 % of the minimum 40 s back; at
  // the local minimum (60 MiB: implied downtime 629 ms <= 1050 ms) max_downtime becomes 1050 ms.
  assert.ok(acts[0].t >= 60, `${acts[0].t}`);
  assert.equal(remaining(acts[0].t), 60 * MiB);
  assert.equal(acts[0].kind, 'set-downtime');
  assert.match(acts[0].why, /1050 ms/);
});

test('kubevirt on qemu: without tuning the plateau never fits 300 ms; with VEP 291 it converges at the first level that can', () => {
  // The VEP's 50 GiB example in miniature: 15000 hot pages rewritten at 60000 pages/s against
  // 25600 pages/s. A pass that leaves T pages unsent adds 60000/25600 x (1 - T/15000) new pages
  // per page sent: 1.14 at 300 ms (T = 7680, diverges), 0.54 at 450 ms (T = 11520, converges).
  const mk = () => new SyntheticGuest(60000, 60000, 15000, 100000);
  const base = { vmBytes: 60000 * PAGE, completionTimeoutPerGiB: 150 } as const;
  const off = runQemu(mk(), qemu({ controller: new KubevirtMonitor(kv({ ...base })) }));
  assert.equal(off.outcome, 'aborted');
  assert.match(off.reason, /completionTimeoutPerGiB|progressTimeout/);
  const on = runQemu(mk(), qemu({ controller: new KubevirtMonitor(kv({ ...base, downtimeTuning: KUBEVIRT_DEFAULTS.downtimeTuning })) }));
  assert.equal(on.outcome, 'converged');
  assert.ok(on.downtime_s > 0.3 && on.downtime_s <= 0.45, `downtime ${on.downtime_s}`);
  const set = on.actions.filter((a) => a.action.kind === 'set-downtime').map((a) => a.action.kind === 'set-downtime' && Math.round(a.action.seconds * 1e3));
  assert.deepEqual(set, [150, 300, 450]);
  const pc = runQemu(mk(), qemu({ controller: new KubevirtMonitor(kv({ ...base, allowPostCopy: true })) }));
  assert.equal(pc.outcome, 'post-copy');
  const paused = runQemu(mk(), qemu({ controller: new KubevirtMonitor(kv({ ...base, allowWorkloadDisruption: true })) }));
  assert.equal(paused.outcome, 'paused');
});

function kv(o: Partial<KubevirtOptions>): KubevirtOptions {
  return {
    vmBytes: 8 * 1024 ** 3,
    completionTimeoutPerGiB: KUBEVIRT_DEFAULTS.completionTimeoutPerGiB,
    progressTimeout: KUBEVIRT_DEFAULTS.progressTimeout,
    allowPostCopy: false,
    allowWorkloadDisruption: false,
    maxDowntimeMs: KUBEVIRT_DEFAULTS.maxDowntimeMs,
    downtimeTuning: null,
    stallDetection: null,
    ...o,
  };
}

function view(t: number, iteration: number): MonitorView {
  return { elapsed: t, iteration, remainingBytes: 1e9, bandwidth: 1e8, processedBytes: 0, downtimeLimit: 0.3 };
}

test('plan: the answer per bandwidth, its margin, the break-even, and min-median-max over seeds', async () => {
  const { bandwidthAnswers, seedRow } = await import('../../src/migrate/plan.js');
  type Row = Parameters<typeof seedRow>[0][number];
  const row = (policy: Row['policy'], bandwidth: number, downtime: number, total: number): Row => ({
    policy,
    bandwidth,
    iterations: 3,
    converged: downtime <= 0.3,
    bytes_sent: 1000,
    downtime_s: downtime,
    total_time_s: total,
    meets_limit: downtime <= 0.3,
    plateau_iteration: null,
    stop_reason: '',
    margin_s: 0.3 - downtime,
    outcome: downtime <= 0.3 ? 'converged' : 'not converged',
    track: 'soft-dirty',
    pages_written: 0,
    false_positives: null,
    frozen_s: 0,
  });
  const seeds = seedRow([row('qemu', 1e8, 0.2, 5), row('qemu', 1e8, 0.35, 6), row('qemu', 1e8, 0.25, 4)]);
  assert.deepEqual(seeds.spread?.downtime_s, [0.2, 0.25, 0.35]);
  assert.equal(seeds.downtime_s, 0.25);
  assert.equal(seeds.total_time_s, 5);
  assert.equal(seeds.meets_limit, false, 'one seed over the limit: the row does not meet it');
  const rows = [row('phaul', 1e7, 1.2, 30), row('qemu', 1e7, 0.9, 40), row('phaul', 1e8, 0.25, 3), row('qemu', 1e8, 0.1, 4)];
  const a = bandwidthAnswers(rows, 0.3, () => 3e6);
  assert.equal(a[0].converges, false);
  assert.deepEqual(a[0].closest, { policy: 'qemu', downtime_s: 0.9 });
  assert.equal(a[0].break_even_downtime_limit_s, 0.9);
  assert.equal(a[0].break_even_bandwidth, 1e8, 'the lowest planned bandwidth that converges');
  assert.equal(a[1].converges, true);
  assert.equal(a[1].policy, 'phaul', 'the fastest that meets the limit');
  assert.ok(Math.abs(a[1].margin_s! - 0.05) < 1e-12);
  const alone = bandwidthAnswers([row('qemu', 1e7, 0.9, 40)], 0.3, () => 3e6);
  assert.equal(alone[0].break_even_bandwidth, 1e7, 'estimated: the final 3e6 bytes in 0.3 s');
  assert.equal(alone[0].break_even_bandwidth_estimated, true);
});
