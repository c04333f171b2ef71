/**
 * The convergence policies against the rules of their sources (P.Haul phaul/iters.py, go-criu
 * phaul/client.go, QEMU migration.c and ram.c), decided from pages written per pre-dump.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoConverge, decide, DEFAULT_MAX_ITERS, type PolicyName, type PolicyOptions } from '../../src/migrate/policy.js';

function opts(policy: PolicyName, extra: Partial<PolicyOptions> = {}): PolicyOptions {
  return {
    policy,
    iterations: 4,
    maxIters: policy === 'fixed' ? 0 : DEFAULT_MAX_ITERS[policy],
    minPages: 64,
    maxGrowthPercent: 10,
    downtimeLimit: 0.3,
    bandwidth: 1e9,
    ...extra,
  };
}

/** Feed the policy a list of pre-dump sizes; returns how many iterations ran and the reason. */
function simulate(o: PolicyOptions, sizes: (it: number) => number, dirty: (it: number) => number = () => 0): { iterations: number; reason: string; converged: boolean } {
  const written: number[] = [];
  for (let it = 1; ; it++) {
    const d = decide(o, { iteration: it, written, dirtyPages: dirty(it), scanSeconds: 0 });
    if (d.final) return { iterations: it, reason: d.reason, converged: d.converged };
    written.push(sizes(it));
    assert.ok(it < 100);
  }
}

test('phaul: 9 pre-dumps at most (index 0..8), then the dump', () => {
  const r = simulate(opts('phaul'), () => 1000);
  assert.equal(r.iterations, 10);
  assert.match(r.reason, /max-iters 10/);
  assert.equal(r.converged, false);
});

test('phaul: a pre-dump of at most 64 pages stops, and that is convergence', () => {
  const r = simulate(opts('phaul'), (it) => [5000, 500, 64][it - 1]);
  assert.equal(r.iterations, 4);
  assert.equal(r.converged, true);
  assert.match(r.reason, /pre-dump 3 wrote 64 pages/);
  assert.equal(simulate(opts('phaul'), (it) => [5000, 500, 65, 65][it - 1] ?? 65).iterations, 10, '65 pages goes on');
});

test('phaul: growth over 10 % stops, with Python 2 integer percentages (10.9 % goes on)', () => {
  assert.equal(simulate(opts('phaul'), (it) => [1000, 1111][it - 1] ?? 1000).iterations, 3, '11.1 % grew');
  const r = simulate(opts('phaul'), (it) => [1000, 1109][it - 1] ?? 1000);
  assert.equal(r.iterations, 10, '10.9 % is 10 after integer division');
  assert.equal(simulate(opts('phaul'), (it) => [1000, 1100][it - 1] ?? 1000).iterations, 10, 'exactly 10 % is not more than 10');
});

test('go-phaul: the first pre-dump is compared with an empty one, so it always stops after one', () => {
  const r = simulate(opts('go-phaul'), () => 1000);
  assert.equal(r.iterations, 2);
  assert.match(r.reason, /1000 pages more than the one before .*empty/);
  assert.equal(r.converged, false);
  const tiny = simulate(opts('go-phaul'), () => 63);
  assert.equal(tiny.iterations, 2);
  assert.equal(tiny.converged, true);
});

test('go-phaul: later pre-dumps stop on a growth of 32 pages or at 8 pre-dumps', () => {
  // Only reachable when the first pre-dump is below 32 pages larger than 0... which is tiny: so
  // check the later rule through a policy run whose first comparison is forced past.
  const o = opts('go-phaul');
  assert.equal(decide(o, { iteration: 3, written: [1000, 1031], dirtyPages: 0, scanSeconds: 0 }).final, false);
  assert.equal(decide(o, { iteration: 3, written: [1000, 1032], dirtyPages: 0, scanSeconds: 0 }).final, true);
  assert.equal(decide(o, { iteration: 9, written: [1000, 900, 800, 700, 600, 500, 400, 300], dirtyPages: 0, scanSeconds: 0 }).reason.includes('max-iters 9'), true);
});

test('qemu: the first pass always runs; then the dump when dirty bytes / bandwidth fit the limit', () => {
  const o = opts('qemu', { bandwidth: 4096 * 1000, downtimeLimit: 0.3 });
  // 300 pages at 1000 pages/s are 0.3 s: not below the limit; 299 are.
  const r = simulate(o, () => 5000, (it) => (it < 4 ? 300 : 299));
  assert.equal(r.iterations, 4);
  assert.equal(r.converged, true);
  const never = simulate(o, () => 5000, () => 100_000);
  assert.equal(never.iterations, 10);
  assert.equal(never.converged, false);
  assert.match(never.reason, /did not converge, 100000 dirty pages need 100000 ms > 300 ms/);
  assert.equal(decide(o, { iteration: 1, written: [], dirtyPages: 0, scanSeconds: 0 }).final, false, 'bulk stage');
  assert.equal(decide(o, { iteration: 2, written: [10], dirtyPages: 299, scanSeconds: 0.002 }).final, false, 'the pagemap read counts');
});

test('fixed: exactly --iterations', () => {
  assert.equal(simulate(opts('fixed', { iterations: 3 }), () => 1).iterations, 3);
});

test('auto-converge: 20 % on the second high period, 10 % more on every second one after, never reset by low ones', () => {
  const a = new AutoConverge();
  assert.equal(a.check(600, 1000), 0);
  assert.equal(a.check(100, 1000), 0, 'a low period does not reset the count');
  assert.equal(a.check(600, 1000), 20);
  assert.equal(a.check(500, 1000), 20, 'exactly half is not more than half');
  assert.equal(a.check(501, 1000), 20);
  assert.equal(a.check(501, 1000), 30);
  for (let i = 0; i < 40; i++) a.check(1e9, 1);
  assert.equal(a.throttlePct, 99);
});
