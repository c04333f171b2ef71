/**
 * The kernel's own soft-dirty self-tests (tools/testing/selftests/mm/soft-dirty.c), written
 * against the emulated MMU: simple, vma reuse, hugepage, mprotect (anon and file), merge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { madvise } from '../../src/mm/madvise.js';
import { mmap, munmap, PROT_READ } from '../../src/mm/mmap.js';
import { mprotect } from '../../src/mm/mprotect.js';
import { ShmemFile } from '../../src/mm/shmem.js';
import { clearRefsWrite } from '../../src/proc/clear-refs.js';
import { smaps } from '../../src/proc/smaps.js';
import { map, newTask, pagemap, read, RW, softDirty, write } from '../helpers/mm.js';

test('test_simple: a page written after clear_refs 4 is soft-dirty, and clean again after the next clear', () => {
  const { task } = newTask();
  const a = map(task, { pages: 1 });
  for (let i = 0; i < 10; i++) {
    assert.equal(clearRefsWrite(task.mm, '4'), 0);
    assert.deepEqual(softDirty(task, a, 1), [false], `iteration ${i}: clean after clear`);
    write(task, a, i);
    assert.deepEqual(softDirty(task, a, 1), [true], `iteration ${i}: dirty after write`);
  }
});

test('test_vma_reuse: unmapping and mapping again at the same address reports soft-dirty', () => {
  const { task } = newTask();
  const a = map(task, { pages: 4 });
  for (let i = 0; i < 4; i++) write(task, a + i);
  clearRefsWrite(task.mm, '4');
  assert.deepEqual(softDirty(task, a, 4), [false, false, false, false]);
  munmap(task.mm, a, 4);
  const b = map(task, { start: a, pages: 4, fixed: true });
  assert.equal(b, a);
  read(task, b + 1); // present again through a read fault: the zero page
  assert.deepEqual(softDirty(task, b, 4), [true, true, true, true]);
});

test('test_hugepage: one write after a clear marks the whole 2 MiB PMD soft-dirty', () => {
  const { task } = newTask();
  const h = map(task, { start: 0x100000000, pages: 1024, fixed: true });
  assert.equal(madvise(task.mm, h, 1024, 'hugepage'), 0);
  write(task, h);
  assert.equal(smaps(task.mm)[0].anonHugeKb, 2048);
  clearRefsWrite(task.mm, '4');
  assert.ok(softDirty(task, h, 512).every((d) => !d));
  write(task, h + 77);
  const sd = softDirty(task, h, 1024);
  assert.ok(sd.slice(0, 512).every((d) => d), 'all 512 pages of the PMD');
  assert.ok(sd.slice(512).every((d) => !d), 'the next PMD was never faulted');
});

for (const kind of ['anon', 'file'] as const) {
  test(`test_mprotect (${kind}): r -> rw does not make clean pages writable; the next write is seen`, () => {
    const { task } = newTask();
    const file = kind === 'file' ? ShmemFile.withPattern('/tmp/selftest', 4) : undefined;
    const a = map(task, { pages: 4, kind, file });
    for (let i = 0; i < 4; i++) write(task, a + i);
    clearRefsWrite(task.mm, '4');
    assert.equal(mprotect(task.mm, a, 4, PROT_READ), 0);
    assert.equal(mprotect(task.mm, a, 4, RW), 0);
    assert.deepEqual(softDirty(task, a, 4), [false, false, false, false]);
    write(task, a + 2);
    assert.deepEqual(softDirty(task, a, 4), [false, false, true, false]);
  });
}

test('test_merge: a mapping placed next to a cleared VMA merges with it and the whole VMA is soft-dirty', () => {
  const { task } = newTask();
  const a = map(task, { pages: 4 });
  for (let i = 0; i < 4; i++) write(task, a + i);
  clearRefsWrite(task.mm, '4');
  const b = map(task, { start: a + 4, pages: 4, fixed: true });
  assert.equal(b, a + 4);
  const vmas = smaps(task.mm);
  assert.equal(vmas.length, 1, 'one merged VMA');
  assert.equal(vmas[0].end - vmas[0].start, 8);
  assert.ok(vmas[0].softDirty);
  assert.deepEqual(softDirty(task, a, 8), new Array(8).fill(true));
  const pm = pagemap(task, a, 8);
  assert.ok(pm.slice(0, 4).every((p) => p.present && p.exclusive && !p.file));
  assert.ok(pm.slice(4).every((p) => !p.present));
});

test('a write to a read-only mapping is a SIGSEGV that changes nothing', () => {
  const { task } = newTask();
  const a = mmap(task.mm, { pages: 2, prot: PROT_READ, kind: 'anon' });
  assert.equal(write(task, a), -11);
  assert.ok(!pagemap(task, a, 1)[0].present);
});
