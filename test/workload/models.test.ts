/**
 * Scenarios for the built-in workload models: each is deterministic in its seed, and each shows
 * the memory behaviour it is named after when measured through clear_refs and pagemap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/mm/kernel.js';
import { createWorkload, listWorkloads, memDigest, type WorkloadProcess } from '../../src/workload/index.js';
import { runMeasured, type RunReport } from '../../src/migrate/run.js';

/** Small sizes so every model runs in milliseconds. */
const SMALL: Record<string, Record<string, unknown>> = {
  'hot-cold': { heap: '2M', hotSet: 64 },
  uniform: { heap: '2M' },
  sequential: { heap: '2M' },
  idle: { heap: '2M' },
  churn: { buffers: 4, bufferSize: '256K', churnEvery: 500 },
  'fork-cow': { heap: '2M', hotSet: 64, forkEvery: 5000, childWrites: 8 },
  thp: { heap: '4M', hotSet: 64 },
  swap: { heap: '2M', hotSet: 64, pageoutEvery: 2000, pageoutPages: 64 },
  guest: { memory: '2M', dirtyRate: '256K/s', wss: '1M' },
  curve: { memory: '2M', pages1: 64, writeRate1: 50, pages2: 256, writeRate2: 0.5 },
};

function start(model: string, seed: number, params: Record<string, unknown> = SMALL[model], kernel = new Kernel()): WorkloadProcess {
  return createWorkload(kernel, model, seed, params);
}

function measure(p: WorkloadProcess, steps = 60_000, sampleInterval = 20_000): RunReport {
  return runMeasured(p, { warmUp: false, duration: steps, sampleInterval });
}

test('every listed model has a small configuration here', () => {
  assert.deepEqual(listWorkloads().map((w) => w.name).sort(), Object.keys(SMALL).sort());
});

for (const model of Object.keys(SMALL)) {
  test(`${model}: the same seed gives the same memory and the same dirty counts`, () => {
    const a = start(model, 42);
    const b = start(model, 42);
    const ra = measure(a);
    const rb = measure(b);
    assert.deepEqual(ra.samples, rb.samples);
    assert.equal(memDigest(a.task), memDigest(b.task));
    assert.ok(ra.samples[0].dirty_pages! > 0, 'populating the heap dirties it');
  });

  if (model !== 'idle') {
    test(`${model}: a different seed gives different memory`, () => {
      const a = start(model, 1);
      const b = start(model, 2);
      measure(a);
      measure(b);
      assert.notEqual(memDigest(a.task), memDigest(b.task));
    });
  }
}

test('run(n) performs exactly n steps, and the step count does not depend on how runs are split', () => {
  const a = start('hot-cold', 5);
  const b = start('hot-cold', 5);
  a.run(12_345);
  assert.equal(a.steps, 12_345);
  for (let i = 0; i < 5; i++) b.run(2_469);
  assert.equal(b.steps, 12_345);
  assert.equal(memDigest(a.task), memDigest(b.task));
});

test('hot-cold: after the first interval each interval dirties exactly the hot set when cold pages are only read', () => {
  const hot = 128;
  const p = start('hot-cold', 3, { heap: '4M', hotSet: hot, coldWriteFraction: 0 });
  const r = measure(p, 100_000, 20_000);
  assert.equal(r.samples[0].dirty_pages, 1024, 'the populated heap');
  for (const s of r.samples.slice(1)) assert.equal(s.dirty_pages, hot);
});

test('hot-cold: with cold writes, dirty pages per interval settle near the hot set', () => {
  const hot = 256;
  const p = start('hot-cold', 4, { heap: '8M', hotSet: hot });
  const r = measure(p, 120_000, 20_000);
  // 20k steps: ~15.7k hot writes cover all 256 hot pages; ~40 cold writes add at most 40 pages.
  for (const s of r.samples.slice(1)) {
    assert.ok(s.dirty_pages! >= hot && s.dirty_pages! <= hot + 80, `dirty ${s.dirty_pages} not within [${hot}, ${hot + 80}]`);
  }
});

test('uniform dirties far more than hot-cold over the same heap', () => {
  const u = measure(start('uniform', 1, { heap: '4M' }));
  const h = measure(start('hot-cold', 1, { heap: '4M', hotSet: 64 }));
  assert.ok(u.samples[2].dirty_pages! > 3 * h.samples[2].dirty_pages!);
});

test('sequential: a 20k-step interval at a 64-byte stride dirties about 20000*64/4096 pages', () => {
  const r = measure(start('sequential', 1, { heap: '8M' }));
  for (const s of r.samples.slice(1)) assert.ok(Math.abs(s.dirty_pages! - 312.5) <= 1.5, `dirty ${s.dirty_pages}`);
});

test('idle: nothing is dirty after the first interval, while everything stays resident', () => {
  const r = measure(start('idle', 1));
  assert.deepEqual(r.samples.slice(1).map((s) => s.dirty_pages), [0, 0]);
  assert.deepEqual(r.samples.map((s) => s.rss_pages), [512, 512, 512]);
});

test('churn: buffers are unmapped, resized and moved, so the address space changes', () => {
  const p = start('churn', 1);
  p.run(5_000);
  const before = p.task.mm.vmas.map((v) => `${v.start}-${v.end}`).join(' ');
  p.run(20_000);
  const after = p.task.mm.vmas.map((v) => `${v.start}-${v.end}`).join(' ');
  assert.notEqual(after, before);
});

test('fork-cow: children fork and write, but none is alive when run() returns', () => {
  const k = new Kernel();
  const p = start('fork-cow', 1, SMALL['fork-cow'], k);
  for (let i = 0; i < 6; i++) {
    p.run(7_000);
    assert.deepEqual([...k.tasks.keys()], [p.task.pid]);
  }
  const extra = p.saveState().extra as { forks: number };
  assert.ok(extra.forks >= 7, `forks ${extra.forks}`);
  // A child's lifetime may carry a run() past n, by at most childWrites + 1 steps.
  assert.ok(p.steps >= 42_000 && p.steps <= 42_000 + 9 * 6);
});

test('thp: soft-dirty is tracked per 2 MiB PMD, so dirty counts come in multiples of 512', () => {
  const r = measure(start('thp', 1));
  for (const s of r.samples) assert.equal(s.dirty_pages! % 512, 0);
  assert.ok(r.samples[1].dirty_pages! >= 512);
});

test('swap: cold pages go to swap and come back, and the process stays consistent', () => {
  const k = new Kernel();
  const p = start('swap', 1, SMALL.swap, k);
  const r = measure(p);
  assert.ok(k.swap.inUse > 0, 'some pages are in swap');
  assert.ok(r.samples[2].rss_pages < 512, `rss ${r.samples[2].rss_pages} is below the heap size`);
});
