import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { scriptObservations } from '../src/cli/script.js';
import { ROOT, traceCases } from './helpers.js';

const cases = traceCases();

test('there are recorded kernel traces to compare against', () => {
  assert.ok(cases.length >= 10, `found ${cases.length} traces`);
});

for (const c of cases) {
  test(`tracker script --json reproduces the Linux 6.1 trace ${c.name} exactly`, () => {
    const got = scriptObservations(c.script, { kernel: '6.1' }).map((o) => JSON.stringify(o));
    assert.deepEqual(got, c.expected);
  });
}

test('the tracker binary prints the same JSON lines as the library (s01-simple)', () => {
  const c = cases.find((x) => x.name === 's01-simple')!;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), 'script', c.script, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), c.expected);
});

test('an op script with an unknown op is a usage error naming file and line, exit 2', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), 'script', join(ROOT, 'fixtures', 'ops', 'bad-op.ops'), '--json'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tracker: .*bad-op\.ops:3: unknown op 'wrte'\n$/);
  assert.equal(r.stdout, '');
});

test('an op script naming a mapping no mmap defined is refused with its line', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), 'script', join(ROOT, 'fixtures', 'ops', 'unknown-name.ops')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown-name\.ops:3: unknown mapping name 'b'/);
});

test('a missing op script file is a one-line error', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), 'script', '/nonexistent.ops'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'tracker: cannot read op script /nonexistent.ops: no such file\n');
});
