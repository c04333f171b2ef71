import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { scriptRun } from '../../src/cli/script.js';
import { parseOps } from '../../src/ops/ops-parser.js';
import { trackerInProcess } from '../helpers/cli.js';
import { generateMergeScript, generateScript, generateUffdScript } from './generate.js';
import { compareTrace, ROOT, traceSets } from './traces.js';

const KERNELS = ['6.1', '6.12'] as const;

// The oracle's 1,101 scenarios per kernel run in scenarios-1.test.ts and scenarios-2.test.ts
// (oracle-scenarios.ts), two halves that npm test runs side by side.

/** Each kernel's trace sets, read once for every test below. */
const SETS = new Map(KERNELS.map((k) => [k, traceSets(k)]));

for (const kernel of KERNELS) {
  const [pub, , uffd] = SETS.get(kernel)!;

  test(`the public Linux ${kernel} traces are all there`, () => {
    assert.equal(pub.traces.length, 10);
    assert.equal(uffd.traces.length, 10);
  });

  for (const t of uffd.traces) {
    test(`tracker script --json reproduces the public userfaultfd / PAGEMAP_SCAN Linux ${kernel} trace ${t.name} exactly`, () => {
      const c = compareTrace(t, kernel);
      assert.deepEqual(c.got, t.expected);
    });
  }

  for (const t of pub.traces) {
    test(`tracker script --json reproduces the public Linux ${kernel} trace ${t.name} exactly`, () => {
      const c = compareTrace(t, kernel);
      assert.deepEqual(c.got, t.expected);
    });
  }
}

const TRACKER = join(ROOT, 'bin', 'tracker.js');

// The binary once (this test); the CLI's refusals and output below run in-process (test/helpers/cli.ts).
test('the tracker binary prints the same JSON lines as the library (s01-simple, both kernels)', () => {
  for (const kernel of KERNELS) {
    const t = SETS.get(kernel)![0].traces.find((x) => x.name === 's01-simple')!;
    const r = spawnSync(process.execPath, [TRACKER, 'script', t.script, '--json', '--kernel', kernel], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), t.expected);
  }
});

test('an op script with an unknown op is a usage error naming file and line, exit 2', () => {
  const r = trackerInProcess('script', join(ROOT, 'fixtures', 'ops', 'bad-op.ops'), '--json');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tracker: .*bad-op\.ops:3: unknown op 'wrte'\n$/);
  assert.equal(r.stdout, '');
});

test('an op script naming a mapping no mmap line defines is refused with its line, exit 2', () => {
  const r = trackerInProcess('script', join(ROOT, 'fixtures', 'ops', 'unknown-name.ops'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown-name\.ops:3: unknown mapping name 'b'/);
});

function withScript(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-ops-'));
  try {
    const file = join(dir, 'a.ops');
    writeFileSync(file, text);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a failed mmap leaves its name unmapped: later uses are errno 22 observations, not an internal error', () => {
  // A file bigger than the runner's 512 MiB tmpfs cannot be written: ENOSPC at the write stage.
  withScript('mmap a 200000 rw file\nwrite a 0\nmmap c 8 rw anon at=a+4\nmmap a 4 rw anon\nwrite a 0\npagemap a\n', (file) => {
    const r = trackerInProcess('script', file, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '{"line":1,"op":"mmap","errno":28,"stage":"write"}',
      '{"line":2,"op":"write","errno":22,"error":"bad op or unknown mapping"}',
      '{"line":3,"op":"mmap","errno":22,"error":"bad op or unknown mapping"}',
      '{"line":6,"op":"pagemap","name":"a","flags":[25,16,16,16]}',
    ]);
  });
});

test("nested fork blocks: each child's lines carry proc child, its names die at its endchild", () => {
  withScript('mmap a 2 rw anon\nwrite a 0 2\nclear_refs 4\nfork\nmmap b 1 rw anon\nfork\nwrite a 0\npagemap a\nendchild\npagemap a\nendchild\nwrite b 0\npagemap a\n', (file) => {
    const obs = scriptRun(file, { kernel: '6.1' }).observations.map((o) => JSON.stringify(o));
    assert.deepEqual(obs, [
      '{"line":3,"op":"clear_refs","value":"4","errno":0}',
      '{"line":8,"op":"pagemap","proc":"child","name":"a","flags":[25,1]}',
      '{"line":10,"op":"pagemap","proc":"child","name":"a","flags":[1,1]}',
      '{"line":12,"op":"write","errno":22,"error":"bad op or unknown mapping"}',
      '{"line":13,"op":"pagemap","name":"a","flags":[9,9]}',
    ]);
  });
});

test('out of memory: the OOM killer SIGKILLs the process, printed as signal 9; a parent sees its child killed; exit 4', () => {
  withScript('mmap a 4096 rw anon\nfork\nmmap b 1 rw anon\nwrite a 0 4096\nendchild\nwrite a 0 2\npagemap b\nwrite a 0 4096\npagemap a\n', (file) => {
    const r = trackerInProcess('script', file, '--json', '--memory', '8M');
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /^tracker: the emulated machine ran out of memory: .*--memory\n$/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 4);
    assert.equal(lines[0].proc, 'child');
    assert.equal(lines[0].signal, 9);
    assert.deepEqual(lines[1], { line: 2, op: 'fork', errno: 10, child_status: 9 });
    assert.equal(lines[2].errno, 22);
    assert.equal(lines[3].line, 8);
    assert.equal(lines[3].signal, 9);
    // The same script with enough memory runs to its end.
    const ok = trackerInProcess('script', file, '--json', '--memory', '64M');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout.trim().split('\n').at(-1)!, /"op":"pagemap","name":"a"/);
  });
});

test('a missing op script file is a one-line error', () => {
  const r = trackerInProcess('script', '/nonexistent.ops');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'tracker: cannot read op script /nonexistent.ops: no such file\n');
});

test('the scenario generator is deterministic, writes scripts tracker parses, and covers the whole language', () => {
  const seen = new Set<string>();
  let nested = false;
  for (let seed = 1; seed <= 60; seed++) {
    const text = generateScript(seed);
    assert.equal(generateScript(seed), text);
    const ops = parseOps(text, `seed-${seed}`);
    let depth = 0;
    for (const op of ops) {
      seen.add(op.op === 'madvise' ? `madvise ${op.advice}` : op.op === 'mmap' ? `mmap ${op.kind}${op.huge ? ' huge' : ''}${op.at ? ' at' : ''}` : op.op);
      if (op.op === 'mremap' && op.move) seen.add('mremap move');
      if (op.op === 'fork') nested ||= ++depth > 1;
      if (op.op === 'endchild') depth--;
    }
  }
  assert.ok(nested, 'no nested fork');
  for (const k of ['mmap anon', 'mmap anon huge', 'mmap shared', 'mmap file', 'mmap anon at', 'write', 'read', 'clear_refs', 'mprotect', 'munmap', 'mremap', 'mremap move', 'fork', 'endchild', 'pagemap', 'smaps']) assert.ok(seen.has(k), k);
  for (const a of ['dontneed', 'free', 'pageout', 'cold', 'willneed', 'remove', 'hugepage', 'nohugepage']) assert.ok(seen.has(`madvise ${a}`), a);
});

test('the userfaultfd and VMA-merge generators are deterministic, write scripts tracker parses, and use every uffd op and option shape', () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 60; seed++) {
    const u = generateUffdScript(seed);
    assert.equal(generateUffdScript(seed), u);
    for (const op of parseOps(u, `uffd-${seed}`)) {
      seen.add(op.op);
      if (op.op === 'pagemap_scan') {
        if ((op.flags & 1) !== 0) seen.add('scan wp');
        if ((op.flags & 2) !== 0) seen.add('scan check');
        if (op.vecLen === 0) seen.add('scan vec=0');
        if (op.maxPages > 0) seen.add('scan max');
        if (op.mask === 2 && op.returnMask === 2) seen.add('scan written fast path');
      }
      if (op.op === 'uffd_open' && (op.features & (1 << 7)) !== 0) seen.add('uffd_open sigbus');
    }
    const m = generateMergeScript(seed);
    assert.equal(generateMergeScript(seed), m);
    for (const op of parseOps(m, `merge-${seed}`)) if (op.op === 'mprotect' || op.op === 'madvise') seen.add(`merge ${op.op}`);
  }
  for (const k of ['uffd_open', 'uffd_close', 'uffd_register', 'uffd_unregister', 'uffd_wp', 'pagemap_scan', 'fork', 'scan wp', 'scan check', 'scan vec=0', 'scan max', 'scan written fast path', 'uffd_open sigbus', 'merge mprotect', 'merge madvise']) {
    assert.ok(seen.has(k), k);
  }
});
