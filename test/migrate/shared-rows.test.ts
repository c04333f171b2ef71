/**
 * Plan rows that differ only in their policy share their pre-dumps (countedDumps): each report is
 * what the policy's own dump --iterative gives, field by field, the final dumps included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countedDumps, DEFAULT_DUMP_OPTIONS, iterativeDump } from '../../src/migrate/iterative.js';
import type { CountedIteration } from '../../src/criu/page-xfer-count.js';
import type { PolicyName } from '../../src/migrate/policy.js';

const POLICIES: PolicyName[] = ['phaul', 'qemu', 'go-phaul', 'fixed'];

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
