/**
 * The curve model: page classes fitted to the pages dirtied in windows of several lengths
 * reproduce the curve within 5 % at every window, when run and measured as `tracker run` does;
 * `tracker run --json` reports are accepted as the measurement.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { Kernel } from '../../src/mm/kernel.js';
import { runMeasured } from '../../src/migrate/run.js';
import { curvePages, fitCurve, type CurveWindow } from '../../src/workload/curve-fit.js';
import { createWorkload } from '../../src/workload/index.js';
import { scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-curve-');
after(() => rmSync(tmp, { recursive: true, force: true }));

const WINDOWS = [0.125, 0.25, 1, 4, 16];

/** Mean pages dirtied per window of each length, measured on a fresh process each time. */
function measure(spec: string, seconds: number): number {
  const p = createWorkload(new Kernel({ memoryBytes: 128 << 20 }), spec, 1);
  const r = runMeasured(p, { duration: { seconds: seconds * 3 }, sampleInterval: { seconds } });
  return r.samples.reduce((a, s) => a + s.dirty_pages!, 0) / r.samples.length;
}

test('a fitted curve model reproduces a measured curve within 5 % at every window', () => {
  // Three classes: a hot set, a warm set and a slowly written one.
  const truth = [
    { pages: 1000, rate: 20 },
    { pages: 4000, rate: 1 },
    { pages: 8000, rate: 0.05 },
  ];
  const windows: CurveWindow[] = WINDOWS.map((seconds) => ({ seconds, pages: curvePages(truth, seconds) }));
  const classes = fitCurve(windows, 'test');
  for (const w of windows) assert.ok(Math.abs(curvePages(classes, w.seconds) - w.pages) / w.pages < 0.05);
  const file = join(tmp, 'three.json');
  writeFileSync(file, JSON.stringify({ model: 'curve', windows, params: { memory: '64M' } }));
  for (const w of windows) {
    const got = measure(file, w.seconds);
    assert.ok(Math.abs(got - w.pages) / w.pages < 0.05, `${w.seconds} s: ${got.toFixed(0)} pages, the curve says ${w.pages.toFixed(0)}`);
  }
});

test('tracker run --json reports at several sample intervals are a curve: the model fitted to hot-cold reproduces it', () => {
  const params = { heap: '16M', hotSet: '1M', coldWriteFraction: 0.2 };
  const reports = WINDOWS.slice(0, 4).map((seconds) => {
    const p = createWorkload(new Kernel({ memoryBytes: 128 << 20 }), 'hot-cold', 1, { ...params, rate: 100_000 });
    return runMeasured(p, { duration: { seconds: seconds * 3 }, sampleInterval: { seconds } });
  });
  const file = join(tmp, 'runs.json');
  writeFileSync(file, JSON.stringify(reports));
  reports.forEach((r) => {
    const want = r.samples.reduce((a, s) => a + s.dirty_pages!, 0) / r.samples.length;
    const got = measure(file, r.samples[0].seconds);
    assert.ok(Math.abs(got - want) / want < 0.05, `${r.samples[0].seconds} s: ${got.toFixed(0)} pages, hot-cold dirtied ${want.toFixed(0)}`);
  });
  // One report alone is a one-window curve.
  writeFileSync(join(tmp, 'one.json'), JSON.stringify(reports[1]));
  assert.equal(createWorkload(new Kernel({ memoryBytes: 128 << 20 }), join(tmp, 'one.json'), 1).identity.model, 'curve');
});

test('QEMU query-dirty-rate results are windows: dirty-rate MB/s over calc-time (seconds or milliseconds)', () => {
  const truth = [
    { pages: 2000, rate: 5 },
    { pages: 6000, rate: 0.2 },
  ];
  const qmp = [
    { status: 'measured', 'calc-time': 250, 'calc-time-unit': 'millisecond', 'dirty-rate': curvePages(truth, 0.25) / 256 / 0.25 },
    { status: 'measured', 'calc-time': 1, 'dirty-rate': curvePages(truth, 1) / 256 },
    { status: 'measured', 'calc-time': 10, 'dirty-rate': curvePages(truth, 10) / 256 / 10 },
  ];
  const file = join(tmp, 'qmp.json');
  writeFileSync(file, JSON.stringify({ model: 'curve', windows: qmp }));
  const p = createWorkload(new Kernel({ memoryBytes: 128 << 20 }), file, 1);
  const classes = [1, 2, 3, 4, 5, 6].map((i) => ({ pages: p.identity.params[`pages${i}`] as number, rate: p.identity.params[`writeRate${i}`] as number })).filter((c) => c.pages > 0);
  for (const w of [0.25, 1, 10]) assert.ok(Math.abs(curvePages(classes, w) - curvePages(truth, w)) / curvePages(truth, w) < 0.05, `${w} s`);
});

test('a curve no page classes can make (dirtying more than in proportion to the window) is refused naming the window', () => {
  const bad = [
    { seconds: 1, pages: 100 },
    { seconds: 2, pages: 1000 },
  ];
  assert.throws(() => fitCurve(bad, 'f.json: windows'), (e) => e instanceof InputError && /^f\.json: windows: no page classes reproduce the curve within 5 %/.test(e.message));
  const file = join(tmp, 'wrong.json');
  writeFileSync(file, JSON.stringify({ model: 'hot-cold', windows: [{ seconds: 1, pages: 10 }] }));
  assert.throws(() => createWorkload(new Kernel(), file, 1), /windows: only the curve model is fitted to windows, not hot-cold/);
});
