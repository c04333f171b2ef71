/**
 * /proc/PID/mem as a dumper needs it: the contents of one page, read without side effects (a
 * swapped page is read from the swap device, not faulted in), and a digest of the whole memory.
 */
import { createHash } from 'node:crypto';
import type { Mm } from '../mm/mm.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, is_pte_marker, PAGE_SIZE, swp_offset } from '../mm/pgtable-types.js';
import type { Vma } from '../mm/vma.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
/** One zero-filled page per pattern byte, built on first use (tmpfs files made by op scripts). */
const patternPages = new Map<number, Uint8Array>();

/** Byte offset, in the array locatePage() returned, of the page it located. */
export const located = { offset: 0 };

/**
 * Where the bytes a load from page vpn would see live: returns the array (a frame chunk, a swap
 * chunk, or a shared zero or pattern page) and sets located.offset. No side effects, no allocation.
 */
export function locatePage(mm: Mm, vma: Vma, vpn: number): Uint8Array {
  const pmd = mm.pt.pmdSlot(vpn, false);
  if (pmd >= 0) {
    const pe = mm.pt.lo[pmd];
    if ((pe & _PAGE_PSE) !== 0) return frameAt(mm, (pe >>> 12) + (vpn & 511));
    if (pe !== 0) {
      const s = ((pe >>> 12) << 9) | (vpn & 511);
      const e = mm.pt.lo[s];
      const h = mm.pt.hi[s];
      if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) return frameAt(mm, e >>> 12);
      // A uffd-wp pte marker holds no page: the load sees what an empty pte would give.
      if ((e !== 0 || h !== 0) && !is_pte_marker(e, h)) return swapAt(mm, swp_offset(e, h));
    }
  }
  located.offset = 0;
  if (vma.file === null) return ZERO_PAGE;
  const index = vma.fileIndex(vpn);
  const file = vma.file;
  if (index >= file.nrPages) return ZERO_PAGE;
  if (file.pfn[index] >= 0) return frameAt(mm, file.pfn[index]);
  if (file.swap[index] !== 0) return swapAt(mm, file.swap[index]);
  if (!file.pattern) return ZERO_PAGE;
  const byte = file.patternByte(index);
  let page = patternPages.get(byte);
  if (page === undefined) patternPages.set(byte, (page = new Uint8Array(PAGE_SIZE).fill(byte)));
  return page;
}

function frameAt(mm: Mm, pfn: number): Uint8Array {
  located.offset = (pfn & 511) << 12;
  return mm.mem.chunks[pfn >>> 9];
}

function swapAt(mm: Mm, slot: number): Uint8Array {
  located.offset = (slot % 512) * PAGE_SIZE;
  return mm.swap.chunkOf(slot);
}

/** The bytes a load from page vpn would see, as a view (do not modify). */
export function accessPage(mm: Mm, vma: Vma, vpn: number): Uint8Array {
  const arr = locatePage(mm, vma, vpn);
  return arr.subarray(located.offset, located.offset + PAGE_SIZE);
}

/**
 * Feed the contents of pages to `sink` in runs: pages that are neighbours in the arrays holding
 * them become one (array, offset, length) piece, so a 2 MiB THP or a freshly populated heap goes
 * out in a few large pieces. `vpnAt(i)` names the i-th of `count` pages; a page no VMA covers reads
 * as zeros.
 */
export function forEachPageRun(
  mm: Mm,
  count: number,
  vpnAt: (i: number) => number,
  sink: (arr: Uint8Array, offset: number, length: number) => void,
): void {
  let vma: Vma | null = null;
  let arr: Uint8Array | null = null;
  let start = 0;
  let length = 0;
  for (let i = 0; i < count; i++) {
    const v = vpnAt(i);
    if (vma === null || v < vma.start || v >= vma.end) vma = mm.findVma(v);
    let page: Uint8Array;
    if (vma === null) {
      page = ZERO_PAGE;
      located.offset = 0;
    } else page = locatePage(mm, vma, v);
    const off = located.offset;
    if (page === arr && off === start + length) length += PAGE_SIZE;
    else {
      if (arr !== null) sink(arr, start, length);
      arr = page;
      start = off;
      length = PAGE_SIZE;
    }
  }
  if (arr !== null) sink(arr, start, length);
}

/**
 * SHA-256 over the layout and every page of every VMA. The layout is taken as runs of equal
 * protection (read, write, exec, shared), so a restore whose VMAs merge differently (anon_vma and
 * pgoff are not restored) still digests the same when the memory is the same.
 */
export function memoryDigest(mm: Mm): string {
  const h = createHash('sha256');
  const runs: number[][] = [];
  for (const vma of mm.vmas) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === vma.start && last[2] === (vma.flags & 0xf)) last[1] = vma.end;
    else runs.push([vma.start, vma.end, vma.flags & 0xf]);
  }
  h.update(new Uint8Array(new Float64Array(runs.flat()).buffer));
  for (const vma of mm.vmas) {
    const first = vma.start;
    forEachPageRun(mm, vma.pages, (i) => first + i, (arr, off, len) => h.update(arr.subarray(off, off + len)));
  }
  return h.digest('hex');
}
