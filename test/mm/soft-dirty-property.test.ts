/**
 * The guarantee an incremental dumper relies on, checked over random operation sequences: on the
 * 6.1 profile, every present or swapped page whose contents differ from what they were at the last
 * clear_refs 4 reports soft-dirty (CRIU takes clean ones from the parent image), every page with
 * no pte reads as zeros (CRIU restores it as a hole), and memory reads back what was written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { madvise } from '../../src/mm/madvise.js';
import { munmap, PROT_READ } from '../../src/mm/mmap.js';
import { mprotect } from '../../src/mm/mprotect.js';
import { clearRefsWrite } from '../../src/proc/clear-refs.js';
import { map, newTask, pagemap, read, RW, write } from '../helpers/mm.js';
import type { KernelOptions } from '../../src/mm/kernel.js';

const N = 24;
type Op =
  | { k: 'write'; p: number; b: number }
  | { k: 'clear' }
  | { k: 'mprotect'; p: number; n: number; ro: boolean }
  | { k: 'pageout'; p: number; n: number }
  | { k: 'dontneed'; p: number; n: number }
  | { k: 'remap'; p: number; n: number }
  | { k: 'fork'; p: number; b: number };

const page = fc.integer({ min: 0, max: N - 1 });
const len = fc.integer({ min: 1, max: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), p: page, b: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('clear' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mprotect' as const), p: page, n: len, ro: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pageout' as const), p: page, n: len }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dontneed' as const), p: page, n: len }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('remap' as const), p: page, n: len }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fork' as const), p: page, b: fc.integer({ min: 1, max: 255 }) }) },
);

function property(opts: KernelOptions, numRuns: number): void {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const { kernel, task } = newTask(opts);
      const base = map(task, { pages: N });
      const content = new Array<number>(N).fill(0);
      let atClear = new Array<number>(N).fill(0);
      const readOnly = new Array<boolean>(N).fill(false);
      for (const op of ops) {
        const end = (p: number, n: number) => Math.min(N, p + n);
        switch (op.k) {
          case 'write': {
            const r = write(task, base + op.p, op.b);
            if (readOnly[op.p]) assert.equal(r, -11);
            else {
              assert.equal(r, 0);
              content[op.p] = op.b;
            }
            break;
          }
          case 'clear':
            assert.equal(clearRefsWrite(task.mm, '4'), 0);
            atClear = [...content];
            break;
          case 'mprotect':
            assert.equal(mprotect(task.mm, base + op.p, end(op.p, op.n) - op.p, op.ro ? PROT_READ : RW), 0);
            for (let i = op.p; i < end(op.p, op.n); i++) readOnly[i] = op.ro;
            break;
          case 'pageout':
            assert.equal(madvise(task.mm, base + op.p, end(op.p, op.n) - op.p, 'pageout'), 0);
            break;
          case 'dontneed':
            assert.equal(madvise(task.mm, base + op.p, end(op.p, op.n) - op.p, 'dontneed'), 0);
            for (let i = op.p; i < end(op.p, op.n); i++) content[i] = 0;
            break;
          case 'remap':
            munmap(task.mm, base + op.p, end(op.p, op.n) - op.p);
            map(task, { start: base + op.p, pages: end(op.p, op.n) - op.p, fixed: true });
            for (let i = op.p; i < end(op.p, op.n); i++) {
              content[i] = 0;
              readOnly[i] = false;
            }
            break;
          case 'fork': {
            const child = kernel.fork(task);
            if (!readOnly[op.p]) assert.equal(write(child, base + op.p, op.b), 0);
            kernel.exit(child);
            break;
          }
        }
      }
      const pm = pagemap(task, base, N);
      for (let i = 0; i < N; i++) {
        const mapped = pm[i].present || pm[i].swap;
        if (!mapped) assert.equal(content[i], 0, `page ${i} has no pte but held data`);
        else if (content[i] !== atClear[i]) assert.ok(pm[i].softDirty, `page ${i} changed since the last clear but is not soft-dirty`);
        assert.equal(read(task, base + i), content[i], `page ${i} contents`);
      }
    }),
    { numRuns, seed: 20261125 },
  );
}

test('6.1: a present or swapped page whose contents changed since the last clear always reports soft-dirty', () => {
  property({}, 300);
});

test('6.1, every frame above 4 GiB (the PFN in both pte words): the same guarantee, and pagemap reports the wide PFNs', () => {
  property({ reservedBytes: 4 * 1024 ** 3 }, 150);
  const { task } = newTask({ reservedBytes: 4 * 1024 ** 3 });
  const base = map(task, { pages: 4 });
  write(task, base, 7);
  assert.ok(task.mm.framePfn(base) >= 2 ** 20, 'frames come from above 4 GiB');
  assert.equal(pagemap(task, base, 1)[0].pfn, task.mm.framePfn(base));
});
