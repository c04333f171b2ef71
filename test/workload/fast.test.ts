/**
 * The fast path of stationary models (model.ts sampleWrites) against the step-by-step run: the
 * pages dirtied per interval agree within 2 % on hot-cold, uniform, guest and curve, over several seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/mm/kernel.js';
import { createWorkload } from '../../src/workload/index.js';
import { runMeasured } from '../../src/migrate/run.js';

const SEEDS = [1, 2, 3, 4, 5];

function meanDirty(model: string, params: Record<string, unknown>, fast: boolean, interval: number, intervals: number): number {
  let sum = 0;
  for (const seed of SEEDS) {
    const p = createWorkload(new Kernel({ memoryBytes: 64 << 20 }), model, seed, params);
    p.fast = fast;
    const r = runMeasured(p, { duration: interval * intervals, sampleInterval: interval });
    for (const s of r.samples) sum += s.dirty_pages!;
  }
  return sum / (SEEDS.length * intervals);
}

const CASES: [string, Record<string, unknown>, number][] = [
  // ~78 % of the hot set and a few cold pages per interval.
  ['hot-cold', { heap: '4M', hotSet: 256, coldWriteFraction: 0.3, hotAccessFraction: 0.9 }, 500],
  // Half the heap or so per interval.
  ['uniform', { heap: '4M', writeFraction: 0.5 }, 2000],
  ['guest', { memory: '8M', dirtyRate: '2M/s', wss: '4M', vcpus: 2, coldFraction: 0.1 }, 500],
  ['curve', { memory: '4M', pages1: 256, writeRate1: 50, pages2: 512, writeRate2: 1 }, 500],
];

for (const [model, params, interval] of CASES) {
  test(`${model}: the fast path dirties the same pages per interval as the step-by-step run, within 2 %`, () => {
    const slow = meanDirty(model, params, false, interval, 20);
    const fast = meanDirty(model, params, true, interval, 20);
    assert.ok(slow > 50, `the case dirties pages (${slow})`);
    assert.ok(Math.abs(fast - slow) / slow < 0.02, `${model}: fast ${fast.toFixed(1)} vs step-by-step ${slow.toFixed(1)} pages per interval`);
  });
}

test('the fast path is deterministic per seed and does not change the step count', () => {
  const run = () => {
    const p = createWorkload(new Kernel({ memoryBytes: 64 << 20 }), 'hot-cold', 7, { heap: '2M', hotSet: 64 });
    p.fast = true;
    const r = runMeasured(p, { duration: 30_000, sampleInterval: 10_000 });
    return { dirty: r.samples.map((s) => s.dirty_pages), steps: p.steps };
  };
  const a = run();
  assert.deepEqual(a, run());
  assert.equal(a.steps, 512 + 1 + 30_000);
});
