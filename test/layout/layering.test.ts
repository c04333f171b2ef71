/**
 * The layers of PLAN/README "Layout", checked on every import of every file in src, type imports
 * included: a folder imports only the folders below it, the checkpointer (src/criu) nothing of the
 * workloads or the migration driver, and no files import one another in a cycle. Also where tests
 * live, so that `npm test` (dist/test/<layer>/*.test.js) runs every one.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cycles, importGraph, type ImportEdge } from '../helpers/imports.js';
import { ROOT } from '../helpers/root.js';

/** Each folder of src and what it may import (errors.ts and native.ts are everyone's). Lowest first. */
const MAY_IMPORT: Record<string, string[]> = {
  mm: [],
  proc: ['mm'],
  task: ['mm', 'proc'],
  ops: ['mm', 'proc', 'task'],
  workload: ['mm', 'proc', 'task', 'ops'],
  // The checkpointer knows a process only through src/proc and src/task, as CRIU through /proc.
  criu: ['mm', 'proc', 'task'],
  migrate: ['mm', 'proc', 'task', 'ops', 'workload', 'criu'],
  cli: ['mm', 'proc', 'task', 'ops', 'workload', 'criu', 'migrate'],
  // Its own entry point (npm run bench), over the library.
  bench: ['mm', 'proc', 'task', 'ops', 'workload', 'criu', 'migrate'],
};
/** Files directly in src: the public surface imports the library; errors.ts and native.ts nothing. */
const TOP_FILES: Record<string, string[]> = {
  'index.ts': ['mm', 'proc', 'task', 'ops', 'workload', 'criu', 'migrate'],
  'errors.ts': [],
  'native.ts': [],
};

const SRC = join(ROOT, 'src');
const { files, edges } = importGraph(SRC);
const folder = (f: string) => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);

test('the scan sees every kind of import: value, type, export-from, worker', () => {
  const seen = (from: string, to: string, kind: ImportEdge['kind']) => edges.some((e) => e.from === from && e.to === to && e.kind === kind);
  assert.ok(seen('criu/mem-dump.ts', 'task/process.ts', 'import type'), 'import type');
  assert.ok(seen('criu/mem-dump.ts', 'criu/track.ts', 'import'), 'import');
  assert.ok(seen('index.ts', 'migrate/iterative.ts', 'export from'), 'export from');
  assert.ok(seen('migrate/plan.ts', 'migrate/plan-worker.ts', 'worker'), 'a worker started from a file');
  assert.deepEqual(edges.filter((e) => !files.includes(e.to)), [], 'every import names a file in src');
});

test('every folder of src is a known layer, and imports only the layers below it', () => {
  assert.deepEqual(files.filter((f) => !(folder(f) in MAY_IMPORT) && !(f in TOP_FILES)), [], 'files outside the known layers');
  const wrong: string[] = [];
  for (const e of edges) {
    const from = folder(e.from);
    const to = folder(e.to);
    if (from === to || e.to === 'errors.ts' || e.to === 'native.ts') continue;
    const allowed = TOP_FILES[e.from] ?? MAY_IMPORT[from];
    if (!allowed.includes(to)) wrong.push(`${e.from} -> ${e.to} (${e.kind})`);
  }
  assert.deepEqual(wrong, []);
});

test('src/criu imports nothing from src/workload, src/ops or src/migrate, not even a type', () => {
  const bad = edges.filter((e) => folder(e.from) === 'criu' && ['workload', 'ops', 'migrate', 'cli'].includes(folder(e.to)));
  assert.deepEqual(bad, []);
});

test('no import cycle between files, type imports included (workers run apart and do not count)', () => {
  assert.deepEqual(cycles(files, edges.filter((e) => e.kind !== 'worker')), []);
  // The check can fail: the MMU calling the fault code that takes an Mm (memory.ts) directly, as
  // it did before the kernel installed its fault handlers, is a cycle, and a type import counts.
  const direct: ImportEdge[] = [...edges, { from: 'mm/mm.ts', to: 'mm/memory.ts', kind: 'import' }];
  assert.ok(cycles(files, direct).some((c) => c.includes('mm/mm.ts') && c.includes('mm/memory.ts')));
  const typeOnly: ImportEdge[] = [...edges, { from: 'mm/mm.ts', to: 'mm/kernel.ts', kind: 'import type' }];
  assert.ok(cycles(files, typeOnly).some((c) => c.includes('mm/mm.ts') && c.includes('mm/kernel.ts')));
});

test('only src/cli and src/bench touch `process`', () => {
  const uses = files.filter((f) => !['cli', 'bench'].includes(folder(f)) && /(^|[^./\w])process\.\w/m.test(stripComments(f)));
  assert.deepEqual(uses, []);
});

test('every test file lives in test/<layer>/, where npm test finds it', () => {
  const tests = readdirSync(join(ROOT, 'test'), { recursive: true }).map(String).filter((f) => f.endsWith('.test.ts'));
  assert.ok(tests.length > 20, 'the scan sees the tests');
  assert.deepEqual(tests.filter((f) => f.split('/').length !== 2 || f.startsWith('helpers/')), [], 'test files outside test/<layer>/ (npm test runs dist/test/*/*.test.js)');
  // Every layer of src has its tests (bench is measured, not tested).
  const layers = new Set(tests.map((f) => f.split('/')[0]));
  assert.deepEqual(Object.keys(MAY_IMPORT).filter((l) => l !== 'bench' && l !== 'ops' && !layers.has(l)), []);
});

function stripComments(f: string): string {
  return readFileSync(join(SRC, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
}
