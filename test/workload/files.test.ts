/**
 * Workloads from files: model files (checked field by field), op scripts and Lackey traces.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../src/errors.js';
import { Kernel } from '../../src/mm/kernel.js';
import { createWorkload, memDigest } from '../../src/workload/index.js';
import { runMeasured } from '../../src/migrate/run.js';
import { LACKEY_END, LACKEY_INSTR, LACKEY_LOAD, LACKEY_MODIFY, LACKEY_STORE, LackeyReader } from '../../src/workload/lackey-reader.js';
import { parsePages } from '../../src/workload/params.js';

const TRACE = 'fixtures/traces/hotcold.lackey.gz';
const TRACE_RECORDS = 371_021;
const dir = mkdtempSync(join(tmpdir(), 'tracker-workload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The InputError message creating `spec` raises (asserting there is one, on one line). */
function refusal(spec: string, overrides: Record<string, unknown> = {}): string {
  try {
    createWorkload(new Kernel(), spec, 1, overrides);
  } catch (e) {
    assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`${spec} was accepted`);
}

test('sizes accept K, M, G with optional iB or B, bytes with B, and page counts', () => {
  assert.equal(parsePages('8M'), 2048);
  assert.equal(parsePages('64KiB'), 16);
  assert.equal(parsePages('1GB'), 262144);
  assert.equal(parsePages('4096B'), 1);
  assert.equal(parsePages('6K'), 2, 'rounded up to whole pages');
  assert.equal(parsePages(2048), 2048);
  assert.equal(parsePages('2048'), 2048);
  assert.ok(Number.isNaN(parsePages('abc')));
  assert.ok(Number.isNaN(parsePages('8X')));
  assert.ok(Number.isNaN(parsePages(1.5)));
});

test('every committed model file starts and runs', () => {
  for (const f of readdirSync('fixtures/workloads')) {
    const p = createWorkload(new Kernel(), join('fixtures/workloads', f), 1);
    p.run(1000);
    assert.equal(p.identity.source, f);
  }
});

test('a model file sets parameters and may pin the seed', () => {
  const f = file('pinned.json', JSON.stringify({ model: 'uniform', seed: 9, params: { heap: '1M', writeFraction: 1 } }));
  const p = createWorkload(new Kernel(), f, 1);
  assert.equal(p.identity.seed, 9);
  assert.deepEqual(p.identity.params, { heap: 256, writeFraction: 1, rate: 1_000_000 });
  const q = createWorkload(new Kernel(), 'uniform', 9, { heap: 256, writeFraction: 1 });
  p.run(5000);
  q.run(5000);
  assert.equal(memDigest(p.task), memDigest(q.task));
});

test('model files with bad fields are refused, naming the file and the field', () => {
  const cases: [object | string, string][] = [
    [{ model: 'hot-cold', params: { hotSet: 'abc' } }, 'params.hotSet: expected a size such as 8M or a page count, got "abc"'],
    [{ model: 'hot-cold', params: { hotsett: 1 } }, 'params.hotsett: unknown parameter for model hot-cold (allowed: heap, hotSet,'],
    [{ model: 'hot-cold', params: { hotWriteFraction: 1.5 } }, 'params.hotWriteFraction: expected a fraction between 0 and 1, got 1.5'],
    [{ model: 'hot-cold', params: { heap: '1M', hotSet: '2M' } }, 'params.hotSet: must not exceed heap (256 pages), got 512 pages'],
    [{ model: 'warm' }, 'model: unknown model "warm" (allowed: hot-cold, uniform,'],
    [{ params: {} }, 'model: expected a model name'],
    [{ model: 'idle', sede: 1 }, 'sede: unknown field (allowed: model, description, seed, params, phases, windows)'],
    [{ model: 'idle', seed: -1 }, 'seed: expected a whole number of at least 0, got -1'],
    [{ model: 'idle', params: [] }, 'params: expected an object of parameters, got an array'],
    [{ model: 'idle', phases: {} }, 'phases: expected an array'],
    [{ model: 'hot-cold', phases: [{ steps: 0 }] }, 'phases[0].steps: expected a whole number of at least 1, got 0'],
    [{ model: 'hot-cold', phases: [{ steps: 5, params: { heap: '1M' } }] }, 'phases[0].params.heap: shapes the address space and cannot change in a phase'],
    [{ model: 'hot-cold', phases: [{ steps: 5, pages: 1 }] }, 'phases[0].pages: unknown field (allowed: steps, params)'],
    ['{ "model": ', 'not valid JSON'],
  ];
  cases.forEach(([doc, expected], i) => {
    const f = file(`bad-${i}.json`, typeof doc === 'string' ? doc : JSON.stringify(doc));
    const m = refusal(f);
    assert.ok(m.startsWith(`${f}: `), m);
    assert.ok(m.includes(expected), `${m}\n  does not include\n${expected}`);
  });
});

test('parameter overrides are checked like model files', () => {
  assert.equal(refusal('hot-cold', { hotSet: 'abc' }), 'param hotSet: expected a size such as 8M or a page count, got "abc"');
  assert.match(refusal('idle', { hotSet: 1 }), /^param hotSet: unknown parameter for model idle \(allowed: heap, rate\)$/);
  assert.match(refusal(TRACE, { heap: 1 }), /^param heap: Lackey trace workloads take no parameters but rate$/);
  assert.match(refusal('hot-cold', { rate: '0' }), /^param rate: expected a rate in steps per virtual second/);
  assert.match(refusal(TRACE, { rate: 'fast' }), /^param rate: expected a rate/);
});

test('an unknown workload name is refused with the choices', () => {
  assert.match(refusal('hotcold'), /^unknown workload 'hotcold': expected a model \(hot-cold, uniform, .*\) or a \.json model file/);
  assert.match(refusal(join(dir, 'missing.json')), /cannot read workload file .*missing\.json: no such file/);
});

test('phases change steady-state parameters at their step counts', () => {
  const f = file(
    'phases.json',
    JSON.stringify({
      model: 'hot-cold',
      params: { heap: '4M', hotSet: 64, coldWriteFraction: 0 },
      phases: [
        { steps: 40_000, params: {} },
        { steps: 40_000, params: { hotSet: 256 } },
      ],
    }),
  );
  const r = runMeasured(createWorkload(new Kernel(), f, 1), { warmUp: false, duration: 120_000, sampleInterval: 20_000 });
  assert.deepEqual(
    r.samples.map((s) => s.dirty_pages),
    [1024, 64, 256, 256, 256, 256],
    'the last phase stays in force',
  );
});

test('an op script runs one line per step, and a forked child lives until endchild within one run()', () => {
  const f = file('fork.ops', ['mmap a 8 rw anon', 'write a 0 8', 'fork', 'write a 0 4 0x11', 'write a 4 4 0x22', 'endchild', 'write a 7 1 0x33', ''].join('\n'));
  const k = new Kernel();
  const p = createWorkload(k, f, 1);
  p.run(2);
  assert.equal(p.steps, 2);
  p.run(1); // fork: the child's ops run too
  assert.equal(p.steps, 6);
  assert.equal(k.tasks.size, 1);
  p.run(10);
  assert.equal(p.steps, 16, 'the ended script idles, steps still count');
  const mm = p.task.mm;
  const base = mm.vmas[0].start * 4096;
  assert.deepEqual([0, 4, 7].map((i) => mm.read8(base + i * 4096)), [0xaa, 0xaa, 0x33]);
});

test('an op script with a syntax error is refused with file and line', () => {
  const f = file('bad.ops', 'mmap a 4 rw anon\nwrite b 0\n');
  assert.equal(refusal(f), `${f}:2: unknown mapping name 'b' (no earlier mmap defines it)`);
});

test('the committed Lackey trace replays and its dirty pages per interval are reported', () => {
  const p = createWorkload(new Kernel(), TRACE, 1);
  const r = runMeasured(p, { warmUp: false, duration: 500_000, sampleInterval: 200_000 });
  assert.deepEqual(r.samples.map((s) => s.steps), [200_000, 200_000, 100_000]);
  const dirty = r.samples.map((s) => s.dirty_pages!);
  // The 1 MiB cold array (256 pages), the 64 KiB hot one (16), stack and libc data.
  assert.ok(dirty[0] > 256 && dirty[0] < 400, `first interval ${dirty[0]}`);
  // The loop: the hot array and ~310 random cold writes, but not the whole cold array again.
  assert.ok(dirty[1] > 16 && dirty[1] < 256, `second interval ${dirty[1]}`);
  assert.equal(dirty[2], 0, 'after the trace ends the process idles');
  assert.equal(p.steps, 500_000);
  assert.equal((p.saveState() as unknown as { records: number }).records, TRACE_RECORDS);
});

test('a plain-text trace (streamed in chunks) replays to the same memory as its gzip form', () => {
  const plain = file('hotcold.lackey', gunzipSync(readFileSync(TRACE)).toString('latin1'));
  const a = createWorkload(new Kernel(), TRACE, 1);
  const b = createWorkload(new Kernel(), plain, 1);
  a.run(400_000);
  b.run(400_000);
  assert.equal(memDigest(a.task), memDigest(b.task));
});

test("the Lackey reader takes records of each kind and skips Valgrind's lines, blank lines, CRLF and a missing final newline", () => {
  const f = file('mini.lackey', '==1== banner\r\nI  04010a0c,3\r\n S 1ffefff8a8,8\n L 04022d68,8\n M 0402a070,4\n--1-- note\n\n M ff,16');
  const r = new LackeyReader(f);
  const got: [number, number, number][] = [];
  for (let k = r.next(); k !== LACKEY_END; k = r.next()) got.push([k, r.addr, r.size]);
  assert.deepEqual(got, [
    [LACKEY_INSTR, 0x04010a0c, 3],
    [LACKEY_STORE, 0x1ffefff8a8, 8],
    [LACKEY_LOAD, 0x04022d68, 8],
    [LACKEY_MODIFY, 0x0402a070, 4],
    [LACKEY_MODIFY, 0xff, 16],
  ]);
});

test('a gzip trace that does not inflate is refused', () => {
  const f = file('broken.lackey.gz', '');
  writeFileSync(f, Buffer.from('\x1f\x8b not gzip', 'latin1'));
  assert.match(refusal(f), /broken\.lackey\.gz: not a valid gzip file/);
});
