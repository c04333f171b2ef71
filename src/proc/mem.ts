/**
 * /proc/PID/mem as a dumper needs it: the contents of one page, read without side effects (a
 * swapped page is read from the swap device, not faulted in), and runs of pages as views of
 * their frames (the digest, mem-digest.ts, and the restorer read through these).
 */
import type { Mm } from '../mm/mm.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, is_pte_marker, PAGE_SIZE, swp_offset } from '../mm/pgtable-types.js';
import type { Vma } from '../mm/vma.js';
import { synthesizePage } from '../mm/page-alloc.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
/** One zero-filled page per pattern byte, built on first use (tmpfs files made by op scripts). */
const patternPages = new Map<number, Uint8Array>();

/** Byte offset, in the array locatePage() returned, of the page it located. */
export const located = { offset: 0 };

/** Token memory: where locatePage() synthesises the page it locates (set by the caller). */
let synthTarget: Uint8Array | null = null;
let synthOffset = 0;

/**
 * Where the bytes a load from page vpn would see live: returns the array (a frame chunk, a swap
 * chunk, or a shared zero or pattern page) and sets located.offset. No side effects, no allocation.
 * With token memory, frames and swap slots are synthesised into a new page (or the caller's target).
 */
export function locatePage(mm: Mm, vma: Vma, vpn: number): Uint8Array {
  const pmd = mm.pt.pmdSlot(vpn, false);
  if (pmd >= 0) {
    const pe = mm.pt.lo[pmd];
    if ((pe & _PAGE_PSE) !== 0) return frameAt(mm, ((pe >>> 12) | (mm.pt.hi[pmd] << 20)) + (vpn & 511));
    if (pe !== 0) {
      const s = ((pe >>> 12) << 9) | (vpn & 511);
      const e = mm.pt.lo[s];
      const h = mm.pt.hi[s];
      if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) return frameAt(mm, (e >>> 12) | (h << 20));
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
  const tokens = mm.mem.tokens;
  if (tokens !== null) {
    if (tokens[pfn] === 0) {
      located.offset = 0;
      return ZERO_PAGE;
    }
    const out = synthTarget ?? new Uint8Array(PAGE_SIZE);
    located.offset = synthTarget === null ? 0 : synthOffset;
    synthesizePage(tokens[pfn], out, located.offset);
    return out;
  }
  located.offset = (pfn & 511) << 12;
  return mm.mem.chunks[pfn >>> 9];
}

function swapAt(mm: Mm, slot: number): Uint8Array {
  if (mm.mem.tokens !== null) {
    const page = mm.swap.read(slot);
    if (synthTarget === null) {
      located.offset = 0;
      return page;
    }
    synthTarget.set(page, synthOffset);
    located.offset = synthOffset;
    return synthTarget;
  }
  located.offset = (slot % 512) * PAGE_SIZE;
  return mm.swap.chunkOf(slot);
}

/** Token memory: pages of a run are synthesised side by side into batches of this many pages. */
const SYNTH_BATCH = 64;

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
  const token = mm.mem.tokens !== null;
  let batch: Uint8Array | null = null;
  for (let i = 0; i < count; i++) {
    const v = vpnAt(i);
    if (vma === null || v < vma.start || v >= vma.end) vma = mm.findVma(v);
    let page: Uint8Array;
    if (token) {
      // Synthesised pages go side by side into a batch the sink may keep until the run ends.
      if (batch === null || synthOffset + PAGE_SIZE > batch.length) {
        batch = new Uint8Array(Math.min(count - i, SYNTH_BATCH) * PAGE_SIZE);
        synthOffset = 0;
      }
      synthTarget = batch;
    }
    if (vma === null) {
      page = ZERO_PAGE;
      located.offset = 0;
    } else page = locatePage(mm, vma, v);
    if (token) {
      synthTarget = null;
      if (page === batch) synthOffset += PAGE_SIZE;
    }
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
 * The frames of pages [vpn, vpn + n) to `sink`, as runs of neighbouring frames in one chunk
 * (array, offset, length): the page table walked a pte table at a time, no VMA lookup and no call
 * per page. Content memory only. Returns the pages walked: fewer than n at the first page with no
 * frame mapped (not present, swapped, or no table).
 */
export function forEachFrameRun(mm: Mm, vpn: number, n: number, sink: (arr: Uint8Array, offset: number, length: number) => void): number {
  const chunks = mm.mem.chunks;
  const pt = mm.pt;
  const end = vpn + n;
  let runPfn = -1;
  let runLen = 0;
  let v = vpn;
  while (v < end) {
    const pmd = pt.pmdSlot(v, false);
    if (pmd < 0) break;
    const pe = pt.lo[pmd];
    if (pe === 0) break;
    const stop = Math.min(end, (Math.floor(v / 512) + 1) * 512);
    const lo = pt.lo;
    const hi = pt.hi;
    const huge = (pe & _PAGE_PSE) !== 0;
    const head = huge ? (pe >>> 12) | (pt.hi[pmd] << 20) : 0;
    const base = (pe >>> 12) << 9;
    for (; v < stop; v++) {
      let pfn: number;
      if (huge) pfn = head + (v & 511);
      else {
        const e = lo[base | (v & 511)];
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) break;
        pfn = (e >>> 12) | (hi[base | (v & 511)] << 20);
      }
      if (runLen > 0 && pfn === runPfn + runLen && (pfn & 511) !== 0) runLen++;
      else {
        if (runLen > 0) sink(chunks[runPfn >>> 9], (runPfn & 511) << 12, runLen * PAGE_SIZE);
        runPfn = pfn;
        runLen = 1;
      }
    }
    if (v < stop) break;
  }
  if (runLen > 0) sink(chunks[runPfn >>> 9], (runPfn & 511) << 12, runLen * PAGE_SIZE);
  return v - vpn;
}
