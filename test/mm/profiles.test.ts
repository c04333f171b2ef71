/** Kernel profiles: what the 2013 patch gets wrong, and a kernel without CONFIG_MEM_SOFT_DIRTY. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { madvise } from '../../src/mm/madvise.js';
import { munmap } from '../../src/mm/mmap.js';
import { clearRefsWrite } from '../../src/proc/clear-refs.js';
import { Procfs, ProcfsError } from '../../src/proc/procfs.js';
import { smaps } from '../../src/proc/smaps.js';
import { map, newTask, pagemap, read, softDirty, write } from '../helpers/mm.js';

test('seed: a page written after a clear and then swapped out reports clean (6.1 keeps it dirty)', () => {
  for (const [profile, expected] of [
    ['seed', false],
    ['6.1', true],
  ] as const) {
    const { task } = newTask({ profile });
    const a = map(task, { pages: 2 });
    write(task, a);
    write(task, a + 1);
    clearRefsWrite(task.mm, '4');
    write(task, a, 0x55);
    assert.equal(madvise(task.mm, a, 1, 'pageout'), 0);
    const fmt = profile === 'seed' ? 'pagemap2' : 'pagemap';
    const pm = pagemap(task, a, 1, fmt)[0];
    assert.ok(pm.swap, `${profile}: swapped`);
    assert.equal(pm.softDirty, expected, `${profile}: soft-dirty of the swapped page`);
    assert.equal(read(task, a), 0x55, `${profile}: the data itself survives swap`);
  }
});

test('seed: a region unmapped and mapped again after a clear reports clean, even pages present through read faults', () => {
  const { task } = newTask({ profile: 'seed' });
  const a = map(task, { pages: 4 });
  for (let i = 0; i < 4; i++) write(task, a + i, 7);
  clearRefsWrite(task.mm, '4');
  munmap(task.mm, a, 4);
  map(task, { start: a, pages: 4, fixed: true });
  read(task, a);
  read(task, a + 1);
  const pm = pagemap(task, a, 4, 'pagemap2');
  assert.deepEqual(
    pm.map((p) => p.softDirty),
    [false, false, false, false],
  );
  assert.ok(pm[0].present && pm[1].present, 'zero page mapped by the read faults');
  assert.equal(read(task, a), 0, 'yet the contents changed from 7 to 0');
  const { task: t61 } = newTask({ profile: '6.1' });
  const b = map(t61, { pages: 4 });
  for (let i = 0; i < 4; i++) write(t61, b + i, 7);
  clearRefsWrite(t61.mm, '4');
  munmap(t61.mm, b, 4);
  map(t61, { start: b, pages: 4, fixed: true });
  read(t61, b);
  assert.deepEqual(softDirty(t61, b, 4), [true, true, true, true]);
});

test('seed: clear_refs splits THPs, 6.1 keeps them and tracks per PMD', () => {
  for (const profile of ['seed', '6.1'] as const) {
    const { task } = newTask({ profile });
    const h = map(task, { start: 0x100000000, pages: 512, fixed: true });
    madvise(task.mm, h, 512, 'hugepage');
    write(task, h);
    clearRefsWrite(task.mm, '4');
    write(task, h + 3);
    const sd = softDirty(task, h, 512, profile === 'seed' ? 'pagemap2' : 'pagemap');
    const n = sd.filter(Boolean).length;
    assert.equal(n, profile === 'seed' ? 1 : 512, profile);
    assert.equal(smaps(task.mm)[0].anonHugeKb, profile === 'seed' ? 0 : 2048);
  }
});

test('seed: clear_refs accepts 1-4 only; pagemap2 exists only there', () => {
  const seed = newTask({ profile: 'seed' });
  assert.equal(clearRefsWrite(seed.task.mm, '5'), 22);
  assert.equal(clearRefsWrite(seed.task.mm, '4'), 0);
  const p61 = new Procfs(newTask().kernel);
  const t = p61.kernel.spawn('x');
  assert.throws(() => p61.pread(`/proc/${t.pid}/pagemap2`, 0, 8), (e: unknown) => e instanceof ProcfsError && e.errno === 2);
  const ps = new Procfs(seed.kernel);
  assert.equal(ps.pread(`/proc/${seed.task.pid}/pagemap2`, 0, 8).length, 8);
});

test('seed pagemap (v1) carries the page shift in bits 55-60 and no soft-dirty', () => {
  const { kernel, task } = newTask({ profile: 'seed' });
  const a = map(task, { pages: 1 });
  write(task, a);
  const p = new Procfs(kernel);
  const v1 = new DataView(p.pread(`/proc/${task.pid}/pagemap`, a * 8, 8).buffer);
  const v2 = new DataView(p.pread(`/proc/${task.pid}/pagemap2`, a * 8, 8).buffer);
  assert.equal((v1.getUint32(4, true) >>> 23) & 63, 12);
  assert.equal((v2.getUint32(4, true) >>> 23) & 63, 1, 'pagemap2: bit 55 = soft-dirty');
});

test('no-soft-dirty: bit 55 is never set; clear_refs 4 is accepted and does nothing, as 6.1 without CONFIG_MEM_SOFT_DIRTY', () => {
  const { task } = newTask({ profile: 'no-soft-dirty' });
  const a = map(task, { pages: 4 });
  assert.deepEqual(softDirty(task, a, 4), [false, false, false, false]);
  write(task, a);
  assert.equal(clearRefsWrite(task.mm, '4'), 0);
  write(task, a + 1);
  assert.deepEqual(softDirty(task, a, 4), [false, false, false, false]);
  assert.ok(!smaps(task.mm)[0].vmFlags.includes('sd'));
  assert.ok(pagemap(task, a, 2).every((p) => p.present));
});
