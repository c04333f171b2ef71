/**
 * The TLB (mm.ts) under a working set larger than it: entries must be served exactly and forgotten
 * whenever the page table takes a permission away: clear_refs 4 (every store faults again and sets
 * soft-dirty), mprotect and munmap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_SIGSEGV } from '../../src/mm/errno.js';
import { Kernel } from '../../src/mm/kernel.js';
import { mmap, munmap, PROT_READ, PROT_WRITE } from '../../src/mm/mmap.js';
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
