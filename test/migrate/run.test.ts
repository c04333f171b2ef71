/**
 * runMeasured(): sampling a workload through clear_refs and pagemap, per interval of virtual time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/mm/kernel.js';
import { createWorkload, DEFAULT_RATES, kerndat } from '../../src/workload/index.js';
import { runMeasured } from '../../src/migrate/run.js';

const SMALL = { heap: '2M', hotSet: 64, coldWriteFraction: 0 };

test('one sample per interval, the last one shorter, with rates per virtual second', () => {
  const p = createWorkload(new Kernel(), 'hot-cold', 1, SMALL);
  const r = runMeasured(p, { warmUp: false, duration: 50_000, sampleInterval: 20_000 });
  assert.deepEqual(r.samples.map((s) => [s.index, s.steps]), [[0, 20_000], [1, 20_000], [2, 10_000]]);
  assert.equal(r.rate, DEFAULT_RATES.model);
  const s = r.samples[1];
  assert.equal(s.dirty_pages, 64);
  // 64 pages (256 KiB) in 20k steps of 1 µs (20 ms): 12.5 MiB/s.
  assert.ok(Math.abs(s.dirty_rate_mib_per_s! - 12.5) < 1e-9);
  assert.equal(r.totals.steps, 50_000);
  assert.ok(Math.abs(r.totals.virtual_seconds - 0.05) < 1e-12);
  assert.equal(r.totals.dirty_pages, 512 + 64 + 64);
  assert.equal(r.totals.final_rss_pages, 512);
  assert.equal(r.dirty_tracking, true);
  assert.equal(r.note, undefined);
});

test('the working set counts pages referenced in the interval, reads included', () => {
  const p = createWorkload(new Kernel(), 'hot-cold', 1, { ...SMALL, hotAccessFraction: 1 });
  const r = runMeasured(p, { warmUp: false, duration: 60_000, sampleInterval: 20_000 });
  assert.equal(r.samples[0].working_set_pages, 512);
  assert.deepEqual(r.samples.slice(1).map((s) => s.working_set_pages), [64, 64]);
  const q = createWorkload(new Kernel(), 'hot-cold', 1, { ...SMALL, hotWriteFraction: 0 });
  const rq = runMeasured(q, { warmUp: false, duration: 60_000, sampleInterval: 20_000 });
  assert.equal(rq.samples[2].dirty_pages, 0, 'reads only');
  assert.ok(rq.samples[2].working_set_pages >= 64, 'but the hot set is referenced');
});

test('without CONFIG_MEM_SOFT_DIRTY dirty tracking is reported unavailable, not as zeros', () => {
  const k = new Kernel({ profile: 'no-soft-dirty' });
  const r = runMeasured(createWorkload(k, 'hot-cold', 1, SMALL), { warmUp: false, duration: 40_000, sampleInterval: 20_000 });
  assert.equal(r.dirty_tracking, false);
  assert.match(r.note!, /does not track soft-dirty/);
  assert.deepEqual(r.samples.map((s) => [s.dirty_pages, s.dirty_rate_mib_per_s]), [[null, null], [null, null]]);
  assert.equal(r.totals.dirty_pages, null);
  assert.deepEqual(r.samples.map((s) => s.rss_pages), [512, 512]);
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
  const r = runMeasured(createWorkload(new Kernel({ profile: 'seed' }), 'hot-cold', 1, SMALL), { warmUp: false, duration: 40_000, sampleInterval: 20_000 });
  assert.deepEqual(r.samples.map((s) => s.dirty_pages), [512, 64]);
});

test('reads of never-written memory map the zero page, which is not counted as dirty', () => {
  const p = createWorkload(new Kernel(), 'churn', 1, { buffers: 2, bufferSize: '64K', churnEvery: 50, writeFraction: 0 });
  const r = runMeasured(p, { warmUp: false, duration: 10_000, sampleInterval: 2_000 });
  // Buffers are remapped (new VMAs carry VM_SOFTDIRTY) and then only read: nothing to copy.
  assert.deepEqual(r.samples.slice(1).map((s) => s.dirty_pages), [0, 0, 0, 0]);
});
