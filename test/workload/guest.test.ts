/**
 * The guest model: parameters in engineers' units, a dirty rate over 1 s windows that matches
 * dirtyRate, --param overrides for every model, and the token memory model under it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/mm/kernel.js';
import { InputError } from '../../src/errors.js';
import { createWorkload, workloadMemoryNeed } from '../../src/workload/index.js';
import { runMeasured } from '../../src/migrate/run.js';
import { trackerInProcess } from '../helpers/cli.js';

const MIB = 1024 * 1024;

function measuredRate(params: Record<string, unknown>, model: 'content' | 'token', seed = 1): number {
  const p = createWorkload(new Kernel({ memoryBytes: 512 * MIB, memoryModel: model }), 'guest', seed, params);
  const r = runMeasured(p, { duration: { seconds: 3 }, sampleInterval: { seconds: 1 } });
  return r.dirty_rate_mib_per_s!;
}

test('guest: the dirty rate over 1 s windows is dirtyRate within 2 %', () => {
  const cases: [Record<string, unknown>, number][] = [
    [{ memory: '128M', dirtyRate: '16M/s' }, 16],
    [{ memory: '128M', dirtyRate: '100Mbit', wss: '32M', vcpus: 4 }, 100e6 / 8 / MIB],
    [{ memory: '256M', dirtyRate: '24M/s', wss: '48M', zeroFraction: 0.5, coldFraction: 0.1 }, 24],
  ];
  for (const [params, want] of cases) {
    for (const model of ['content', 'token'] as const) {
      const got = measuredRate(params, model);
      assert.ok(Math.abs(got - want) / want < 0.02, `${JSON.stringify(params)} (${model}): ${got.toFixed(2)} MiB/s, want ${want.toFixed(2)}`);
    }
  }
});

test('guest: zeroFraction of memory is never written (not resident); the wss takes the writes', () => {
  const p = createWorkload(new Kernel({ memoryBytes: 256 * MIB }), 'guest', 1, { memory: '64M', dirtyRate: '4M/s', wss: '8M', zeroFraction: 0.25 });
  const r = runMeasured(p, { duration: { seconds: 2 }, sampleInterval: { seconds: 1 } });
  assert.equal(r.totals.final_rss_pages, (48 * MIB) / 4096);
  assert.ok(r.totals.max_working_set_pages <= (8 * MIB) / 4096);
});

test('guest: a dirty rate its working set cannot hold, and a wss beyond memory, are refused naming the field', () => {
  assert.throws(() => createWorkload(new Kernel(), 'guest', 1, { memory: '64M', wss: '4M', dirtyRate: '8M/s' }), (e: Error) => e instanceof InputError && /dirtyRate: .*larger wss/.test(e.message));
  assert.throws(() => createWorkload(new Kernel(), 'guest', 1, { memory: '64M', wss: '128M' }), (e: Error) => e instanceof InputError && /wss: must not exceed/.test(e.message));
  assert.throws(() => createWorkload(new Kernel(), 'guest', 1, { dirtyRate: 'fast' }), (e: Error) => e instanceof InputError && /dirtyRate: expected a rate/.test(e.message));
});

test('a guest larger than the default machine gets the memory it needs', () => {
  assert.equal(workloadMemoryNeed('guest', { memory: '64M' }), null);
  assert.equal(workloadMemoryNeed('guest', { memory: '8G' }), 8 * 1024 ** 3 + 64 * MIB);
  assert.equal(workloadMemoryNeed('hot-cold', {}), null);
});

test('tracker run --param sets model parameters on the command line, for every model', () => {
  const g = trackerInProcess('run', '--workload', 'guest', '--param', 'memory=32M', '--param', 'dirtyRate=8Mbit', '--duration', '1s', '--sample-interval', '1s', '--json');
  assert.equal(g.status, 0, g.stderr);
  const gr = JSON.parse(g.stdout);
  // Shown as the user writes them (snake_case keys, sizes with units), accepted back as such.
  assert.equal(gr.workload.params.memory, '32M');
  assert.equal(gr.workload.params.dirty_rate, 1e6);
  assert.equal(gr.workload.params.wss, '0');
  const h = trackerInProcess('run', '--workload', 'hot-cold', '--param', 'heap=4M', '--param', 'hotSet=64', '--steps', '1000', '--json');
  assert.equal(h.status, 0, h.stderr);
  assert.equal(JSON.parse(h.stdout).workload.params.hot_set, '256K');
  const bad = trackerInProcess('run', '--workload', 'hot-cold', '--param', 'nope=1', '--steps', '10');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /param nope: unknown parameter for model hot-cold/);
  const malformed = trackerInProcess('run', '--param', 'heap', '--steps', '10');
  assert.equal(malformed.status, 2);
});
