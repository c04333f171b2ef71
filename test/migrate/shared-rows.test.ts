/**
 * Plan rows that differ only in their policy share their pre-dumps (countedDumps): each report is
 * what the policy's own dump --iterative gives, field by field, the final dumps included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countedDumps, DEFAULT_DUMP_OPTIONS, iterativeDump } from '../../src/migrate/iterative.js';
import { InterruptedError } from '../../src/errors.js';
import type { CountedIteration } from '../../src/criu/page-xfer-count.js';
import type { PolicyName } from '../../src/migrate/policy.js';

// qemu, kubevirt and qemu-pass run on their own inside countedDumps (another loop, other fixed costs).
const POLICIES: PolicyName[] = ['phaul', 'qemu', 'go-phaul', 'kubevirt', 'qemu-pass', 'fixed'];

for (const [workload, params, bandwidth] of [
  ['hot-cold', { heap: '4M', hotSet: '256K' }, 1.25e9],
  ['hot-cold', { heap: '4M', hotSet: '256K' }, 12.5e6],
  ['guest', { memory: '8M', dirtyRate: '1M/s', wss: '2M' }, 4 * 1024 ** 2],
] as const) {
  test(`${workload} at ${bandwidth} B/s: the shared run gives each policy's own report and counted images`, () => {
    const o = { ...DEFAULT_DUMP_OPTIONS, workload, params, seed: 5, kernel: '6.1' as const, interval: { seconds: 0.01 }, iterations: 3, bandwidth, memoryBytes: 64 << 20, memoryModel: 'token' as const, fast: true };
    const shared = countedDumps(o, POLICIES, true);
    const stops = new Set(shared.map((s) => s.report.iterations.length));
    assert.ok(stops.size > 1, 'the policies stop at different iterations, so the shared run forks');
    POLICIES.forEach((policy, i) => {
      const count = { keep: true, iterations: [] as CountedIteration[] };
      const alone = iterativeDump({ ...o, params: { ...params }, policy, imagesDir: '', force: false, count });
      assert.deepEqual(shared[i].report, alone, `${policy}: the report`);
      assert.deepEqual(shared[i].counted, count.iterations, `${policy}: the counted images`);
    });
  });
}

test('QEMU\'s loop under plan: counted, nothing written, and an abort inside a pass stops it naming the iteration under way', () => {
  const o = { ...DEFAULT_DUMP_OPTIONS, workload: 'hot-cold', params: { heap: '4M', hotSet: '256K' }, seed: 5, kernel: '6.1' as const, interval: { seconds: 0.01 }, iterations: 3, bandwidth: 125e3, memoryBytes: 64 << 20, memoryModel: 'token' as const, fast: true };
  const count = { keep: false, iterations: [] as CountedIteration[] };
  // Aborted a few looks after the first sync: inside the first pass.
  let looks = 0;
  const signal = {
    get aborted() {
      return count.iterations.length >= 1 && ++looks > 5;
    },
  };
  assert.throws(
    () => iterativeDump({ ...o, policy: 'qemu', imagesDir: '/nonexistent/never-written', force: false, count, signal }),
    (e: unknown) => e instanceof InterruptedError && /^interrupted in iteration [2-9]\d*; iteration/.test(e.message),
  );
  assert.ok(count.iterations.length >= 1, 'the first sync went to the counting page-xfer');
});
