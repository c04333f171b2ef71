/** madvise(2) (mm/madvise.c) and the reclaim it can trigger (MADV_PAGEOUT). */
import { EACCES, EINVAL, ENOMEM } from './errno.js';
import { splitHugePage, splitHugePmd } from './huge-memory.js';
import { zapRange } from './mmap.js';
import type { Mm } from './mm.js';
import { PG_anon, PG_lazyfree, PG_shmem, PG_swapcache, PG_thp } from './page-alloc.js';
import { walkPageRange } from './pagewalk.js';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  swp_entry_hi,
  swp_entry_lo,
  swp_offset,
} from './pgtable-types.js';
import { VM_HUGEPAGE, VM_NOHUGEPAGE, VM_SHARED, VM_WRITE, type Vma } from './vma.js';

export const MADVISE_ADVICE = ['dontneed', 'free', 'pageout', 'cold', 'willneed', 'remove', 'hugepage', 'nohugepage'] as const;
export type MadviseAdvice = (typeof MADVISE_ADVICE)[number];

export function isMadviseAdvice(s: string): s is MadviseAdvice {
  return (MADVISE_ADVICE as readonly string[]).includes(s);
}

/** madvise(2): returns 0 or -errno (ENOMEM when part of the range is unmapped, after the rest). */
export function madvise(mm: Mm, start: number, pages: number, advice: MadviseAdvice): number {
  if (!Number.isInteger(start) || !Number.isInteger(pages) || pages < 0 || !isMadviseAdvice(advice)) return -EINVAL;
  if (pages === 0) return 0;
  const end = start + pages;
  let unmapped = false;
  let cur = start;
  // Walk by address, not over a snapshot: advice that changes flags may merge VMAs as it goes.
  while (cur < end) {
    const i = mm.vmaIndexFrom(cur);
    if (i >= mm.vmas.length || mm.vmas[i].start >= end) break;
    const vma = mm.vmas[i];
    if (vma.start > cur) unmapped = true;
    const from = Math.max(vma.start, cur);
    const to = Math.min(vma.end, end);
    const r = madviseVma(mm, vma, from, to, advice);
    if (r < 0) {
      mm.flushTlb();
      return r;
    }
    cur = to;
  }
  if (cur < end) unmapped = true;
  mm.flushTlb();
  return unmapped ? -ENOMEM : 0;
}

function madviseVma(mm: Mm, vma: Vma, from: number, to: number, advice: MadviseAdvice): number {
  switch (advice) {
    case 'dontneed':
      zapRange(mm, from, to);
      return 0;
    case 'free':
      if (vma.kind !== 'anon') return -EINVAL;
      madviseFree(mm, from, to);
      return 0;
    case 'pageout':
      pageoutRange(mm, vma, from, to);
      return 0;
    case 'cold':
      coldRange(mm, from, to);
      return 0;
    case 'willneed':
      if (vma.file !== null) {
        for (let v = from; v < to; v++) {
          const index = vma.fileIndex(v);
          if (index < vma.file.nrPages && vma.file.swap[index] !== 0) vma.file.getPage(index, mm.mem, mm.swap);
        }
      }
      return 0;
    case 'remove':
      // madvise_remove(): no file is -EINVAL, a file not mapped shared and writable -EACCES.
      if (vma.file === null) return -EINVAL;
      if ((vma.flags & (VM_SHARED | VM_WRITE)) !== (VM_SHARED | VM_WRITE)) return -EACCES;
      zapRange(mm, from, to);
      for (let v = from; v < to; v++) {
        const index = vma.fileIndex(v);
        if (index < vma.file!.nrPages) vma.file!.dropPage(index, mm.mem, mm.swap);
      }
      return 0;
    case 'hugepage':
    case 'nohugepage': {
      const set = advice === 'hugepage' ? VM_HUGEPAGE : VM_NOHUGEPAGE;
      const clear = advice === 'hugepage' ? VM_NOHUGEPAGE : VM_HUGEPAGE;
      const newflags = (vma.flags & ~clear) | set;
      if (newflags === vma.flags) return 0;
      mm.splitAround(from, to);
      const piece = mm.findVma(from)!;
      piece.flags = newflags;
      mm.mergeNeighbours(piece);
      return 0;
    }
  }
}

/** Huge PMDs in the range are split, and so are their THPs, so reclaim can work per page. */
function splitThpsIn(mm: Mm, from: number, to: number): void {
  walkPageRange(mm, from, to, {
    pmdEntry(pmd) {
      const head = mm.pt.lo[pmd] >>> 12;
      splitHugePmd(mm, pmd);
      if (!mm.mem.isZero(head) && mm.mem.pageMapcount(head) <= 1) splitHugePage(mm, head);
      return false;
    },
  });
}

function coldRange(mm: Mm, from: number, to: number): void {
  walkPageRange(mm, from, to, {
    pmdEntry(pmd) {
      mm.pt.lo[pmd] &= ~_PAGE_ACCESSED;
      return true;
    },
    pteRange(slot, f, t) {
      const lo = mm.pt.lo;
      for (let i = 0; i < t - f; i++) if ((lo[slot + i] & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) lo[slot + i] &= ~_PAGE_ACCESSED;
    },
  });
}

/** madvise_free_pte_range(): exclusive anon pages become clean and lazily freeable; swap is dropped. */
function madviseFree(mm: Mm, from: number, to: number): void {
  splitThpsIn(mm, from, to);
  const mem = mm.mem;
  walkPageRange(mm, from, to, {
    pteRange(slot, f, t) {
      const lo = mm.pt.lo;
      const hi = mm.pt.hi;
      for (let i = 0; i < t - f; i++) {
        const e = lo[slot + i];
        const h = hi[slot + i];
        if (e === 0 && h === 0) continue;
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) {
          const freed = mm.swap.put(swp_offset(e, h));
          if (freed >= 0) {
            mem.flags[freed] &= ~PG_swapcache;
            if (mem.mapcount[freed] === 0) mem.freeFrame(freed);
          }
          lo[slot + i] = 0;
          hi[slot + i] = 0;
          continue;
        }
        if ((e & _PAGE_SPECIAL) !== 0) continue;
        const pfn = e >>> 12;
        if ((mem.flags[pfn] & PG_anon) === 0 || mem.pageMapcount(pfn) !== 1) continue;
        lo[slot + i] = e & ~(_PAGE_DIRTY | _PAGE_ACCESSED);
        mem.flags[pfn] |= PG_lazyfree;
      }
    },
  });
}

/**
 * MADV_PAGEOUT: reclaim the pages only this process maps. Anonymous pages go to swap
 * (try_to_unmap_one() keeps soft-dirty in the swap pte where the profile does), clean lazy-free
 * pages are dropped, shmem and tmpfs pages are unmapped and written to swap by their file.
 */
function pageoutRange(mm: Mm, vma: Vma, from: number, to: number): void {
  splitThpsIn(mm, from, to);
  const mem = mm.mem;
  const swap = mm.swap;
  const swpSd = mm.profile.swapSoftDirty;
  walkPageRange(mm, from, to, {
    pteRange(slot, f, t) {
      const lo = mm.pt.lo;
      const hi = mm.pt.hi;
      for (let i = 0; i < t - f; i++) {
        const e = lo[slot + i];
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 || (e & _PAGE_SPECIAL) !== 0) continue;
        const pfn = e >>> 12;
        const pf = mem.flags[pfn];
        if ((pf & PG_thp) !== 0 || mem.pageMapcount(pfn) !== 1) continue;
        if ((pf & PG_shmem) !== 0) {
          lo[slot + i] = 0;
          mem.putPte(pfn);
          const index = vma.fileIndex(f + i);
          if (vma.file !== null && vma.file.pfn[index] === pfn) vma.file.pageout(index, mem, swap);
          continue;
        }
        if ((pf & PG_lazyfree) !== 0 && (e & _PAGE_DIRTY) === 0) {
          lo[slot + i] = 0;
          mem.putPte(pfn);
          continue;
        }
        let s: number;
        if ((pf & PG_swapcache) !== 0) {
          s = mem.swapSlot[pfn];
          swap.dup(s);
        } else {
          s = swap.alloc(mem.frame(pfn));
          if (s < 0) continue;
        }
        mem.flags[pfn] &= ~PG_lazyfree;
        let swp = swp_entry_lo(s) | _PAGE_SWP_EXCLUSIVE;
        if (swpSd && (e & _PAGE_SOFT_DIRTY) !== 0) swp |= _PAGE_SWP_SOFT_DIRTY;
        lo[slot + i] = swp;
        hi[slot + i] = swp_entry_hi(swap.type, s);
        mem.putPte(pfn);
      }
    },
  });
}
