/**
 * memoryDigest(): a SHA-256 of what a process's memory holds, to compare a process with its
 * restored copy. It covers each mapped range (start, end, protection) and every page's contents
 * as pagemap and the frame or swap slot behind it show them, without touching the page tables
 * (no faults, no accessed bits). Pages with nothing behind them (never written, or file pages not
 * yet in memory) hash as zero pages. Adjacent VMAs with the same protection are hashed as one
 * range, because a restorer may map them with one mmap and let them merge.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { PM_PRESENT_HI, PM_SWAP_HI, readPagemap } from '../proc/pagemap.js';
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from '../mm/vma.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
const BATCH = 4096;
const PROT_MASK = VM_READ | VM_WRITE | VM_EXEC | VM_SHARED;
const PM_SWP_OFFSET_HI_MASK = (1 << 23) - 1;

/**
 * Call `fn` for each page of [start, end) with what it holds: the frame behind a present page,
 * the swap slot behind a swapped one, or null for a page with nothing behind it. Views, not copies.
 */
export function forEachPage(mm: Mm, start: number, end: number, fn: (vpn: number, data: Uint8Array | null) => void): void {
  const words = new Uint32Array(BATCH * 2);
  for (let at = start; at < end; at += BATCH) {
    const n = Math.min(BATCH, end - at);
    // The seed kernel's pagemap v1 still has present, swap and the PFN in the same places.
    readPagemap(mm, at, n, words);
    for (let i = 0; i < n; i++) {
      const lo = words[2 * i];
      const hi = words[2 * i + 1];
      if ((hi & PM_PRESENT_HI) !== 0) fn(at + i, mm.mem.frame(lo));
      else if ((hi & PM_SWAP_HI) !== 0) fn(at + i, mm.swap.read((lo >>> 5) + (hi & PM_SWP_OFFSET_HI_MASK) * 2 ** 27));
      else fn(at + i, null);
    }
  }
}

export function memoryDigest(task: Task): string {
  const mm = task.mm;
  const h = createHash('sha256');
  const header = new Float64Array(3);
  const ranges: [number, number, number][] = [];
  for (const v of mm.vmas) {
    const prot = v.flags & PROT_MASK;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last[1] === v.start && last[2] === prot) last[1] = v.end;
    else ranges.push([v.start, v.end, prot]);
  }
  for (const [start, end, prot] of ranges) {
    header[0] = start;
    header[1] = end;
    header[2] = prot;
    h.update(new Uint8Array(header.buffer));
    forEachPage(mm, start, end, (_vpn, data) => h.update(data ?? ZERO_PAGE));
  }
  return h.digest('hex');
}
