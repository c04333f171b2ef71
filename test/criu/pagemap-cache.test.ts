/**
 * pagemap-cache: pagemap read through a window of at most 512 entries that never crosses a 2 MiB
 * boundary, stretches without page tables skipped before reading, the words those of pagemap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PagemapCache, PMC_PAGES } from '../../src/criu/pagemap-cache.js';
import { PM_PRESENT_HI, PM_SOFT_DIRTY_HI } from '../../src/proc/pagemap.js';
import { map, newTask, write } from '../helpers/mm.js';

test('a window ends at the next 2 MiB boundary and holds the pagemap words of its pages', () => {
  const { task } = newTask();
  const start = map(task, { pages: 1024 }); // 2 MiB aligned (get_unmapped_area)
  assert.equal(start % PMC_PAGES, 0);
  for (const i of [3, 511, 512, 700]) write(task, start + i);
  const pmc = new PagemapCache(task, 'pagemap');
  assert.equal(pmc.fill(start + 3, start + 1024), true);
  assert.deepEqual([pmc.start, pmc.count], [start + 3, PMC_PAGES - 3]);
  const present = (i: number) => (pmc.words[2 * i + 1] & PM_PRESENT_HI) !== 0;
  assert.equal(present(0), true, 'page 3');
  assert.equal(present(1), false, 'page 4 was never touched');
  assert.equal(present(511 - 3), true, 'page 511');
  assert.notEqual(pmc.words[2 * (511 - 3) + 1] & PM_SOFT_DIRTY_HI, 0, 'a written page is soft-dirty');
  // The next window starts where this one ended.
  assert.equal(pmc.fill(pmc.start + pmc.count, start + 1024), true);
  assert.deepEqual([pmc.start, pmc.count], [start + 512, PMC_PAGES]);
  assert.equal(present(0), true, 'page 512');
  assert.equal(present(700 - 512), true, 'page 700');
});

test('stretches no page table covers are skipped: a 1 GiB mapping with one page written costs one window', () => {
  const { task } = newTask();
  const pages = 262144; // 1 GiB of address space
  const start = map(task, { pages, noreserve: true });
  write(task, start + 200_000);
  const pmc = new PagemapCache(task, 'pagemap');
  let windows = 0;
  let read = 0;
  for (let at = start; pmc.fill(at, start + pages); at = pmc.start + pmc.count) {
    windows++;
    read += pmc.count;
  }
  assert.equal(windows, 1);
  assert.ok(read <= PMC_PAGES, `read ${read} entries`);
  assert.equal(pmc.fill(start, start + 1000), false, 'nothing populated in the first 1000 pages');
});

test('the window never exceeds the range asked for', () => {
  const { task } = newTask();
  const start = map(task, { pages: 512 });
  for (let i = 0; i < 512; i++) write(task, start + i);
  const pmc = new PagemapCache(task, 'pagemap');
  assert.equal(pmc.fill(start + 10, start + 20), true);
  assert.deepEqual([pmc.start, pmc.count], [start + 10, 10]);
});
