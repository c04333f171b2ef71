/**
 * Checkpoint/restore of a workload process: dumped mid-run (memory, VMAs and its saved state in
 * core.img) and restored into a fresh kernel by the restorer, then both processes run on and must
 * hold the same memory.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Task } from '../../src/mm/kernel.js';
import { Kernel } from '../../src/mm/kernel.js';
import { dumpIteration } from '../../src/criu/mem-dump.js';
import { restoreImages } from '../../src/criu/restore.js';
import { kerndat } from '../../src/proc/kerndat.js';
import { createWorkload, memDigest, resumeWorkload, type WorkloadProcess, type WorkloadState } from '../../src/workload/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-resume-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** Checkpoint `proc` with the real dumper (one full dump) and restore it with the real restorer. */
function checkpointRestore(proc: WorkloadProcess): { kernel: Kernel; task: Task; state: WorkloadState } {
  const kd = kerndat(proc.kernel);
  const { dir } = dumpIteration(proc, { imagesRoot: tmp, dirName: String(n++), iteration: 1, type: 'dump', trackMem: false, hasParent: false, format: kd.pagemapFormat, softDirty: kd.softDirty, kernelName: '6.1' });
  const r = restoreImages(dir);
  return { kernel: r.kernel, task: r.task, state: r.core.state };
}

function checkResume(spec: string, overrides: Record<string, unknown>, k: number, n: number, expectChange = true): void {
  const a = createWorkload(new Kernel(), spec, 11, overrides);
  a.run(k);
  const { kernel, task, state } = checkpointRestore(a);
  assert.equal(state.steps, a.steps);
  assert.equal(memDigest(task), memDigest(a.task), 'the copy holds the same memory');
  const atCheckpoint = memDigest(a.task);
  const b = resumeWorkload(kernel, task, state);
  assert.deepEqual(b.identity, a.identity);
  a.run(n);
  b.run(n);
  assert.equal(b.steps, a.steps);
  assert.equal(memDigest(b.task), memDigest(a.task), 'the resumed process did what the original did');
  assert.deepEqual(JSON.parse(JSON.stringify(b.saveState())), JSON.parse(JSON.stringify(a.saveState())));
  // The run after the checkpoint changed memory, so the comparison means something.
  if (expectChange) assert.notEqual(memDigest(a.task), atCheckpoint);
}

const MODELS: [string, Record<string, unknown>][] = [
  ['hot-cold', { heap: '1M', hotSet: 32 }],
  ['uniform', { heap: '1M' }],
  ['sequential', { heap: '1M', stride: 1000 }],
  ['idle', { heap: '1M' }],
  ['churn', { buffers: 3, bufferSize: '128K', churnEvery: 300 }],
  ['fork-cow', { heap: '1M', hotSet: 32, forkEvery: 3000, childWrites: 4 }],
  ['thp', { heap: '4M', hotSet: 32 }],
  ['swap', { heap: '1M', hotSet: 32, pageoutEvery: 1000, pageoutPages: 32 }],
];

for (const [model, params] of MODELS) {
  test(`${model}: a process resumed from saved state on restored memory continues exactly`, () => {
    // Mid-populate, then in the steady state.
    checkResume(model, params, 100, 20_000);
    checkResume(model, params, 17_777, 20_000, model !== 'idle');
  });
}

test('a resumed process diverges if its state is not the one saved with its memory', () => {
  const a = createWorkload(new Kernel(), 'hot-cold', 11, { heap: '1M', hotSet: 32 });
  a.run(5_000);
  const early = a.saveState();
  a.run(5_000);
  const { kernel, task } = checkpointRestore(a);
  const b = resumeWorkload(kernel, task, early);
  a.run(5_000);
  b.run(5_000);
  assert.notEqual(memDigest(b.task), memDigest(a.task));
});

test('an op script resumes at the next op, with its mapping names', () => {
  const dir = mkdtempSync(join(tmp, 'ops-'));
  const f = join(dir, 'steps.ops');
  writeFileSync(f, ['mmap a 16 rw anon', 'write a 0 16 0x01', 'mmap b 4 rw anon', 'write b 0 4 0x02', 'mremap a 32', 'write a 20 4 0x03', 'fork', 'write b 0 1 0x09', 'endchild', 'munmap a 0 2', 'write b 3 1 0x04', 'write a 31 1 0x05', ''].join('\n'));
  for (const k of [1, 3, 5, 9]) checkResume(f, {}, k, 20);
});

test('a Lackey replay resumes at the byte offset of its next record, plain or gzip', () => {
  const gz = 'fixtures/traces/hotcold.lackey.gz';
  checkResume(gz, {}, 150_001, 100_000);
  // Past the first 1 MiB chunk of the plain text, so the resumed reader starts mid-file.
  const plain = join(mkdtempSync(join(tmp, 'lackey-')), 'hotcold.lackey');
  writeFileSync(plain, gunzipSync(readFileSync(gz)));
  checkResume(plain, {}, 150_001, 100_000);
});
