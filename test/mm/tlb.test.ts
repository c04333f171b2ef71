/**
 * The TLB (mm.ts) under a working set larger than it: entries must be served exactly and forgotten
 * whenever the page table takes a permission away: clear_refs 4 (every store faults again and sets
 * soft-dirty), mprotect and munmap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_SIGSEGV } from '../../src/mm/errno.js';
import { Kernel } from '../../src/mm/kernel.js';
import { madvise } from '../../src/mm/madvise.js';
import type { Mm } from '../../src/mm/mm.js';
import { mmap, munmap, PROT_READ, PROT_WRITE } from '../../src/mm/mmap.js';
import { mremap, MREMAP_FIXED, MREMAP_MAYMOVE } from '../../src/mm/mremap.js';
import { mprotect } from '../../src/mm/mprotect.js';
import { clearRefsWrite } from '../../src/proc/clear-refs.js';

test('a working set larger than the TLB is served exactly, and every entry is flushed by clear_refs, mprotect and munmap', () => {
  // Level 1 has 2^14 entries; 36864 pages evict each other in it on every pass.
  const pages = 36864;
  const kernel = new Kernel({ memoryBytes: 256 << 20 });
  const mm = kernel.spawn('t').mm;
  const start = mmap(mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let pass = 0; pass < 3; pass++) for (let p = 0; p < pages; p++) assert.equal(mm.store8(start + p, pass, (p + pass) & 255), 0);
  // Every page reads back what was stored, through whichever level holds it.
  for (let p = 0; p < pages; p++) for (let pass = 0; pass < 3; pass++) assert.equal(mm.load8(start + p, pass), (p + pass) & 255);

  // clear_refs 4: every page is write-protected again, so each first store faults.
  clearRefsWrite(mm, '4');
  const before = mm.counters.softDirtyFaults;
  for (let p = 0; p < pages; p++) mm.store8(start + p, 7, 1);
  assert.equal(mm.counters.softDirtyFaults - before, pages);

  // mprotect read-only: stores fail however recently a level cached the page.
  for (let p = 0; p < pages; p++) mm.store8(start + p, 8, 2);
  assert.equal(mprotect(mm, start, pages, PROT_READ), 0);
  for (const p of [0, 1, 20000, pages - 1]) assert.equal(mm.store8(start + p, 8, 3), FAULT_SIGSEGV);
  assert.equal(mm.load8(start + 20000, 8), 2);

  // munmap: loads fail too.
  assert.equal(munmap(mm, start + 16384, pages - 16384), 0);
  assert.equal(mm.load8(start + 20000, 8), FAULT_SIGSEGV);
  assert.equal(mm.load8(start + 100, 8), 2);
});

/** 512 pages written twice: every 64-page block of neighbouring frames is cached as one entry. */
function populated(kernel: Kernel, pages = 512): { mm: Mm; start: number } {
  const mm = kernel.spawn('t').mm;
  const start = mmap(mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let pass = 0; pass < 2; pass++) for (let p = 0; p < pages; p++) assert.equal(mm.store8(start + p, 0, (p + 1) & 255), 0);
  return { mm, start };
}

test('block entries (64 pages as one) go wherever a page entry of theirs would: fork, madvise, mremap, a truly written set, THP', () => {
  const kernel = new Kernel({ memoryBytes: 64 << 20 });
  // fork write-protects the parent's ptes: the parent's next store copies, the child keeps the old byte.
  const { mm, start } = populated(kernel);
  const parent = [...kernel.tasks.values()][0];
  const child = kernel.fork(parent);
  const faults = mm.counters.cowFaults;
  for (let p = 0; p < 512; p++) assert.equal(mm.store8(start + p, 0, 200), 0);
  assert.equal(mm.counters.cowFaults - faults, 512);
  for (const p of [0, 63, 64, 300, 511]) {
    assert.equal(child.mm.load8(start + p, 0), (p + 1) & 255);
    assert.equal(mm.load8(start + p, 0), 200);
  }
  kernel.exit(child);

  // MADV_DONTNEED: the pages read as zeros, through whatever was cached.
  assert.equal(madvise(mm, start + 64, 128, 'dontneed'), 0);
  assert.equal(mm.load8(start + 100, 0), 0);
  assert.equal(mm.load8(start + 63, 0), 200);

  // mremap moves the pages: the old place faults, the new one has the bytes.
  const target = mmap(mm, { pages: 256, prot: PROT_READ, kind: 'anon' });
  const moved = mremap(mm, start + 256, 256, 256, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  assert.equal(moved, target);
  assert.equal(mm.load8(start + 300, 0), FAULT_SIGSEGV);
  assert.equal(mm.load8(moved + 44, 0), 200);

  // A truly written set sees every store after it is reset, cached blocks or not.
  const m2 = populated(new Kernel({ memoryBytes: 64 << 20 }));
  m2.mm.resetWritten();
  const stored = [1, 5, 6, 65, 130, 131, 511];
  for (const p of stored) m2.mm.store8(m2.start + p, 1, 9);
  const set = m2.mm.written!;
  for (const p of stored) assert.ok(set.has(m2.start + p), `page ${p} in the written set`);
  assert.ok(!set.has(m2.start + 2));
});

test('a block entry from a huge pmd is dropped when clear_refs write-protects it', () => {
  const kernel = new Kernel({ memoryBytes: 64 << 20, profile: '6.12' });
  const mm = kernel.spawn('t').mm;
  const start = mmap(mm, { pages: 1024, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  const base = start + ((512 - (start & 511)) & 511);
  assert.equal(madvise(mm, base, 512, 'hugepage'), 0);
  for (let pass = 0; pass < 2; pass++) for (let p = 0; p < 512; p++) assert.equal(mm.store8(base + p, 5, p & 255), 0);
  assert.equal(mm.counters.thpFaults, 1);
  clearRefsWrite(mm, '4');
  const faults = mm.counters.faults;
  assert.equal(mm.store8(base + 70, 5, 1), 0);
  assert.ok(mm.counters.faults > faults, 'the store after clear_refs faulted');
  assert.equal(mm.load8(base + 70, 5), 1);
  assert.equal(mm.load8(base + 71, 5), 71);
});
