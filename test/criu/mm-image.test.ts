/**
 * mm.img version 2: every VMA carries the syscall arguments that re-create it (prot, map_flags,
 * madv, as CRIU's vma_entry), the restorer makes exactly those calls, a version 1 mm.img (vm_flags
 * only) still restores, and arguments that disagree with the VMA are refused.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeHeader, encodeImage, HEADER_BYTES, IMAGE_FILES, readImage } from '../../src/criu/image.js';
import { openChain, restoreArgs } from '../../src/criu/page-read.js';
import { restoreImages } from '../../src/criu/restore.js';
import type { MmEntry } from '../../src/criu/schema.js';
import { ImageError } from '../../src/errors.js';
import { MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../src/task/syscalls.js';
import { dumper, modelFile, scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-mm-img-');
after(() => rmSync(tmp, { recursive: true, force: true }));
const dump = dumper(tmp, { workload: modelFile(tmp, 'thp', 'thp', { heap: '4M', hotSet: '256K' }), interval: 4000, memoryBytes: 64 << 20 });
const { dir } = dump('thp');
const final = join(dir, '3');
const mmPath = join(final, IMAGE_FILES.mm);

/** Write `mm` as this final dump's mm.img with header version `version`. */
function rewriteMm(to: string, mm: MmEntry, version: number): void {
  const b = encodeImage('mm', mm);
  b.writeUInt32LE(version, 4);
  writeFileSync(join(to, IMAGE_FILES.mm), b);
}

test('mm.img (version 2) holds prot, map_flags and madv; the restorer gets them from page-read as they are', () => {
  assert.equal(decodeHeader(readFileSync(mmPath).subarray(0, HEADER_BYTES)).version, 2);
  const mm = readImage<MmEntry>(mmPath, 'mm');
  const heap = mm.vmas.find((v) => (v.madv & (1 << MADV_HUGEPAGE)) !== 0);
  assert.ok(heap !== undefined, 'the thp workload madvises its heap MADV_HUGEPAGE');
  assert.equal(heap.prot, PROT_READ | PROT_WRITE);
  assert.equal(heap.map_flags, MAP_PRIVATE | MAP_ANONYMOUS);
  const args = restoreArgs(openChain(final)).vmas.find((v) => v.start === heap.start)!;
  assert.deepEqual([args.prot, args.flags, args.madv], [heap.prot, heap.map_flags, ['hugepage']]);
});

test('a version 1 mm.img (vm_flags only) restores to the same memory', () => {
  const old = join(tmp, 'v1');
  cpSync(dir, old, { recursive: true });
  const mm = readImage<MmEntry>(mmPath, 'mm');
  const v1 = { vmas: mm.vmas.map(({ prot: _p, map_flags: _f, madv: _m, ...rest }) => rest) } as unknown as MmEntry;
  rewriteMm(join(old, '3'), v1, 1);
  assert.equal(restoreImages(join(old, '3')).report.digest_ok, true);
  assert.deepEqual(
    restoreArgs(openChain(join(old, '3'))).vmas,
    restoreArgs(openChain(final)).vmas.map((v) => ({ ...v })),
    'the same syscall arguments, derived from vm_flags',
  );
});

test('syscall arguments that disagree with the VMA, or unknown bits, are refused by every reader', () => {
  const mm = readImage<MmEntry>(mmPath, 'mm');
  const cases: [string, (m: MmEntry) => void][] = [
    ['a private VMA mapped MAP_SHARED', (m) => (m.vmas[0].map_flags = MAP_SHARED | MAP_ANONYMOUS)],
    ['an unknown prot bit', (m) => (m.vmas[0].prot |= 8)],
    ['an unknown madv bit', (m) => (m.vmas[0].madv |= 1 << 3)],
    ['a missing map_flags', (m) => delete (m.vmas[0] as Partial<MmEntry['vmas'][number]>).map_flags],
  ];
  for (const [what, damage] of cases) {
    const to = join(tmp, `bad-${what.replace(/ /g, '-')}`);
    cpSync(dir, to, { recursive: true });
    const m = structuredClone(mm);
    damage(m);
    rewriteMm(join(to, '3'), m, 2);
    assert.throws(() => openChain(join(to, '3')), (e) => e instanceof ImageError && /prot, map_flags or madv are malformed or disagree with its kind/.test(e.message), what);
  }
});
