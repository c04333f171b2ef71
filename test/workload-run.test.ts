/**
 * runMeasured(): sampling a workload through clear_refs and pagemap, per interval of virtual time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../src/mm/kernel.js';
import { createWorkload, kerndat, runMeasured, VIRTUAL_NS_PER_STEP } from '../src/workload/index.js';

const SMALL = { heap: '2M', hotSet: 64, coldWriteFraction: 0 };

test('one sample per interval, the last one shorter, with rates per virtual second', () => {
  const p = createWorkload(new Kernel(), 'hot-cold', 1, SMALL);
  const r = runMeasured(p, { steps: 50_000, sampleInterval: 20_000 });
  assert.deepEqual(r.samples.map((s) => [s.index, s.steps]), [[0, 20_000], [1, 20_000], [2, 10_000]]);
  assert.equal(r.virtualNsPerStep, VIRTUAL_NS_PER_STEP);
  const s = r.samples[1];
  assert.equal(s.dirtyPages, 64);
  // 64 pages (256 KiB) in 20k steps of 10 ns (0.2 ms): 1250 MiB/s.
  assert.equal(s.dirtyMiBps, 1250);
  assert.equal(r.totals.steps, 50_000);
  assert.equal(r.totals.virtualSeconds, 50_000 * VIRTUAL_NS_PER_STEP * 1e-9);
  assert.equal(r.totals.dirtyPages, 512 + 64 + 64);
  assert.equal(r.totals.finalRssPages, 512);
  assert.equal(r.softDirty, true);
  assert.equal(r.note, undefined);
});

test('the working set counts pages referenced in the interval, reads included', () => {
  const p = createWorkload(new Kernel(), 'hot-cold', 1, { ...SMALL, hotAccessFraction: 1 });
  const r = runMeasured(p, { steps: 60_000, sampleInterval: 20_000 });
  assert.equal(r.samples[0].workingSetPages, 512);
  assert.deepEqual(r.samples.slice(1).map((s) => s.workingSetPages), [64, 64]);
  const q = createWorkload(new Kernel(), 'hot-cold', 1, { ...SMALL, hotWriteFraction: 0 });
  const rq = runMeasured(q, { steps: 60_000, sampleInterval: 20_000 });
  assert.equal(rq.samples[2].dirtyPages, 0, 'reads only');
  assert.ok(rq.samples[2].workingSetPages >= 64, 'but the hot set is referenced');
});

test('without CONFIG_MEM_SOFT_DIRTY dirty tracking is reported unavailable, not as zeros', () => {
  const k = new Kernel({ profile: 'no-soft-dirty' });
  const r = runMeasured(createWorkload(k, 'hot-cold', 1, SMALL), { steps: 40_000, sampleInterval: 20_000 });
  assert.equal(r.softDirty, false);
  assert.match(r.note!, /does not track soft-dirty/);
  assert.deepEqual(r.samples.map((s) => [s.dirtyPages, s.dirtyMiBps]), [[null, null], [null, null]]);
  assert.equal(r.totals.dirtyPages, null);
  assert.deepEqual(r.samples.map((s) => s.rssPages), [512, 512]);
});

test('kerndat probes in a scratch process that is gone afterwards', () => {
  for (const profile of ['6.1', 'seed', 'no-soft-dirty'] as const) {
    const k = new Kernel({ profile });
    const kd = kerndat(k);
    assert.equal(kd.softDirty, profile !== 'no-soft-dirty', profile);
    assert.equal(kd.zeroPagePfn, k.mem.zeroPfn);
    assert.equal(k.tasks.size, 0);
  }
});

test('the seed kernel reports dirty pages through pagemap2', () => {
  const r = runMeasured(createWorkload(new Kernel({ profile: 'seed' }), 'hot-cold', 1, SMALL), { steps: 40_000, sampleInterval: 20_000 });
  assert.deepEqual(r.samples.map((s) => s.dirtyPages), [512, 64]);
});

test('reads of never-written memory map the zero page, which is not counted as dirty', () => {
  const p = createWorkload(new Kernel(), 'churn', 1, { buffers: 2, bufferSize: '64K', churnEvery: 50, writeFraction: 0 });
  const r = runMeasured(p, { steps: 10_000, sampleInterval: 2_000 });
  // Buffers are remapped (new VMAs carry VM_SOFTDIRTY) and then only read: nothing to copy.
  assert.deepEqual(r.samples.slice(1).map((s) => s.dirtyPages), [0, 0, 0, 0]);
});
