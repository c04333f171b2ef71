/**
 * page-pipe: pages and in-parent holes collected as runs, neighbours merged, the pagemap the runs
 * in address order, and no object per page (typed arrays that grow).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PagePipe } from '../../src/criu/page-pipe.js';
import { PE_PARENT, PE_PRESENT } from '../../src/criu/schema.js';

test('adjacent pages merge into one run; a gap or a hole starts a new one', () => {
  const pp = new PagePipe();
  for (const v of [10, 11, 12]) pp.addPage(v);
  pp.addHole(13);
  pp.addHole(14);
  pp.addPage(15);
  pp.addPage(20);
  assert.deepEqual(pp.entries(), [
    { vaddr: 10, nr_pages: 3, flags: PE_PRESENT },
    { vaddr: 13, nr_pages: 2, flags: PE_PARENT },
    { vaddr: 15, nr_pages: 1, flags: PE_PRESENT },
    { vaddr: 20, nr_pages: 1, flags: PE_PRESENT },
  ]);
  assert.deepEqual([pp.nrPages, pp.nrHoles, pp.nrPageRuns], [5, 2, 3]);
  // The page runs (what is read through /proc/PID/mem) skip the holes: 10-12, 15, 20.
  assert.deepEqual([...pp.pageStart.subarray(0, pp.nrPageRuns)], [10, 15, 20]);
  assert.deepEqual([...pp.pageLen.subarray(0, pp.nrPageRuns)], [3, 1, 1]);
});

test('pages separated only by holes are two page runs but the pagemap keeps the order', () => {
  const pp = new PagePipe();
  pp.addPage(1);
  pp.addHole(2);
  pp.addPage(3);
  assert.equal(pp.nrPageRuns, 2);
  assert.deepEqual(pp.entries().map((e) => e.flags), [PE_PRESENT, PE_PARENT, PE_PRESENT]);
});

test('thousands of runs grow the arrays and lose nothing; page numbers beyond 2^32 stay exact', () => {
  const pp = new PagePipe();
  const base = 2 ** 34 + 5; // a 47-bit address space's pages do not fit 32 bits
  for (let i = 0; i < 5000; i++) {
    pp.addPage(base + 3 * i);
    pp.addHole(base + 3 * i + 1);
  }
  const e = pp.entries();
  assert.equal(e.length, 10_000);
  assert.deepEqual(e[9998], { vaddr: base + 3 * 4999, nr_pages: 1, flags: PE_PRESENT });
  assert.equal(pp.nrPageRuns, 5000);
  assert.equal(pp.pageStart[4999], base + 3 * 4999);
});

test('an empty pipe has an empty pagemap', () => {
  const pp = new PagePipe();
  assert.deepEqual(pp.entries(), []);
  assert.deepEqual([pp.nrPages, pp.nrHoles, pp.nrPageRuns], [0, 0, 0]);
});
