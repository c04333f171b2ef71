import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sparkline } from '../src/cli/run.js';
import { ROOT } from './helpers.js';

function tracker(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), ...args], { encoding: 'utf8' });
}

test('tracker run --json reports dirty pages per interval that settle near the hot set', () => {
  const r = tracker('run', '--steps', '300000', '--sample-interval', '50000', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { samples: { dirty_pages: number }[]; soft_dirty: boolean; warm_up_steps: number; dirty_rate_mib_per_s: number };
  assert.equal(report.soft_dirty, true);
  assert.equal(report.samples.length, 6);
  assert.equal(report.warm_up_steps, 32769, 'mmap and the populate of the 128 MiB heap run before measuring');
  for (const s of report.samples) assert.ok(s.dirty_pages >= 2048 && s.dirty_pages < 2400, `${s.dirty_pages} dirty pages`);
  assert.ok(report.dirty_rate_mib_per_s > 160 && report.dirty_rate_mib_per_s < 190, `${report.dirty_rate_mib_per_s} MiB/s`);
});

test('tracker run prints a table and a sparkline of dirty pages', () => {
  const r = tracker('run', '--steps', '200000', '--sample-interval', '50000');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /dirty pages per interval +\S*█/);
});

test('tracker workloads lists every built-in model with its parameters', () => {
  const r = tracker('workloads', '--json');
  assert.equal(r.status, 0);
  const list = JSON.parse(r.stdout) as { name: string; params: unknown[] }[];
  assert.deepEqual(
    list.map((w) => w.name),
    ['hot-cold', 'uniform', 'sequential', 'idle', 'churn', 'fork-cow', 'thp', 'swap'],
  );
  assert.ok(list.every((w) => w.params.length > 0));
});

test('bad flags and values are one-line usage errors with exit 2', () => {
  for (const args of [['run', '--steps', 'abc'], ['dump', '--bogus'], ['dump', '--iterative', '--kernel', '5.0'], ['dump', '--iterative', '--bandwidth', '-1G'], ['run', '--workload', 'nope']]) {
    const r = tracker(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^tracker: [^\n]+\n(\(run with --help for usage\)\n)?$/, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('sparkline scales to the largest value and leaves gaps for missing ones', () => {
  assert.equal(sparkline([0, 4, 8, null]), '▁▅█ ');
});

test('a workload larger than --memory fails cleanly with exit 4, not by exhausting Node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-oom-'));
  try {
    const model = join(dir, 'big.json');
    writeFileSync(model, JSON.stringify({ model: 'uniform', params: { heap: '64M' } }));
    const r = tracker('dump', '--iterative', '--workload', model, '-D', join(dir, 'img'), '--memory', '32M');
    assert.equal(r.status, 4);
    assert.match(r.stderr, /^tracker: workload uniform: emulated memory exhausted at 0x[0-9a-f]+; use a smaller heap or more --memory\n$/);
    assert.deepEqual(readdirSync(join(dir, 'img')), [], 'no partial iteration is left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an images directory that cannot be created is a one-line error, exit 2', () => {
  const r = tracker('dump', '--iterative', '-D', '/etc/passwd/images');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'tracker: cannot create images directory /etc/passwd/images: ENOTDIR\n');
});
