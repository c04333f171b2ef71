/** madvise(2) (mm/madvise.c) and the reclaim it can trigger (MADV_PAGEOUT). */
import { EACCES, EINVAL, ENOMEM } from './errno.js';
import { splitHugePageIn, splitHugePmd } from './huge-memory.js';
import { zapRange } from './mmap.js';
import { freeSwapAndCache } from './memory.js';
import { wantsUffdWpMarkerAfterZap } from './userfaultfd-k.js';
import type { ShmemFile } from './shmem.js';
import type { Mm } from './mm.js';
import { PG_anon, PG_dirty, PG_lazyfree, PG_shmem, PG_swapcache, PG_thp } from './page-alloc.js';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  is_pte_marker,
  PTE_MARKER_UFFD_WP_HI,
  PTE_MARKER_UFFD_WP_LO,
  swp_entry_hi,
  swp_entry_lo,
} from './pgtable-types.js';
import { VM_HUGEPAGE, VM_MAYWRITE, VM_NOHUGEPAGE, VM_SHARED, type Vma } from './vma.js';

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
      zapRange(mm, from, to, vma);
      return 0;
    case 'free':
      if (vma.kind !== 'anon') return -EINVAL;
      madviseFree(mm, vma, from, to);
      return 0;
    case 'pageout':
    case 'cold':
      coldOrPageout(mm, vma, from, to, advice === 'pageout');
      return 0;
    case 'willneed':
      // madvise_willneed(): swapped anon and shmem pages are read into the swap cache only
      // (force_swapin_readahead(), shmem_swapin_range()); ptes and the file's page cache stay as
      // they are, so nothing a process can observe changes. tmpfs files have no other readahead.
      return 0;
    case 'remove':
      // madvise_remove(): no file is -EINVAL, a private file mapping -EACCES. Debian's kernels test
      // vma_is_shared_maywrite() (VM_SHARED | VM_MAYWRITE), so read-only and PROT_NONE shared
      // mappings may punch holes (recorded in test/oracle/mechanisms/m11-madv-remove.ops).
      if (vma.file === null) return -EINVAL;
      if ((vma.flags & (VM_SHARED | VM_MAYWRITE)) !== (VM_SHARED | VM_MAYWRITE)) return -EACCES;
      punchHole(mm, vma.file, vma.fileIndex(from), vma.fileIndex(to));
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

/**
 * shmem_fallocate(FALLOC_FL_PUNCH_HOLE): unmap_mapping_range() takes the file's pages out of every
 * process that maps them (a forked parent too; private COW copies stay), then they are freed.
 */
function punchHole(mm: Mm, file: ShmemFile, first: number, end: number): void {
  const mem = mm.mem;
  for (const task of mm.kernel.tasks.values()) {
    const m = task.mm;
    for (const v of m.vmas) {
      if (v.file !== file) continue;
      const from = Math.max(v.start, v.start + (first - v.pgoff));
      const to = Math.min(v.end, v.start + (end - v.pgoff));
      for (let vpn = from; vpn < to; vpn++) {
        const slot = m.leafSlot(vpn);
        if (slot < 0 || (m.pt.lo[slot] & _PAGE_PSE) !== 0) continue;
        const e = m.pt.lo[slot];
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 || (e & _PAGE_SPECIAL) !== 0) continue;
        const pfn = (e >>> 12) | (m.pt.hi[slot] << 20);
        if ((mem.flags[pfn] & PG_shmem) === 0) continue;
        m.pt.lo[slot] = 0;
        m.pt.hi[slot] = 0;
        mem.putPte(pfn);
      }
      m.flushTlb();
    }
  }
  for (let i = first; i < Math.min(end, file.nrPages); i++) file.dropPage(i, mem, mm.swap);
}

/**
 * madvise_cold_or_pageout_pte_range(): MADV_COLD deactivates, MADV_PAGEOUT reclaims, the pages
 * only this process maps. A huge PMD wholly in the range is reclaimed as one THP; one partly in it
 * is split (split_huge_page()) when exclusive, then handled per pte. A pte-mapped THP subpage:
 * 6.1 stops at a shared one and splits an exclusive one; 6.12 leaves a THP that is wholly in the range whole, skips one
 * folio_likely_mapped_shared() and splits the rest (madvise_folio_pte_batch()).
 */
function coldOrPageout(mm: Mm, vma: Vma, from: number, to: number, pageout: boolean): void {
  const mem = mm.mem;
  const batch = mm.profile.madviseFolioBatch;
  for (let a = from; a < to; ) {
    const next = Math.min(to, (Math.floor(a / 512) + 1) * 512);
    const pmd = mm.pt.pmdSlot(a, false);
    if (pmd < 0 || mm.pt.lo[pmd] === 0) {
      a = next;
      continue;
    }
    const pe = mm.pt.lo[pmd];
    if ((pe & _PAGE_PSE) !== 0) {
      const head = (pe >>> 12) | (mm.pt.hi[pmd] << 20);
      if (mem.isZero(head) || mem.pageMapcount(head) !== 1) {
        a = next;
        continue;
      }
      if (next - a === 512) {
        mm.pt.lo[pmd] = pe & ~_PAGE_ACCESSED;
        if (pageout) reclaimHugePmd(mm, pmd);
        a = next;
        continue;
      }
      splitHugePageIn(mm, vma, head, pmd, a);
    }
    const base = mm.pt.pteSlot(a, false);
    for (let v = a; v < next; v++) {
      const slot = base + (v - a);
      const e = mm.pt.lo[slot];
      if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 || (e & _PAGE_SPECIAL) !== 0) continue;
      const pfn = (e >>> 12) | (mm.pt.hi[slot] << 20);
      if ((mem.flags[pfn] & PG_thp) !== 0) {
        const head = mem.thpHead(pfn);
        if (batch) {
          const nr = folioPteBatch(mm, slot, pfn, next - v);
          if (nr === 512 && pfn === head) {
            if (pageout && mem.refs[head] === 512 && mem.compound[head] === 0) reclaimPteMappedThp(mm, vma, slot, head);
            v += nr - 1;
            continue;
          }
          if (folioLikelyMappedShared(mm, head)) {
            v += nr - 1;
            continue;
          }
        } else if (mem.pageMapcount(pfn) !== 1) break;
        splitHugePageIn(mm, vma, head, -1, v);
        v--;
        continue;
      }
      if (mem.pageMapcount(pfn) !== 1) continue;
      if (pageout) reclaimPte(mm, vma, v, slot);
    }
    a = next;
  }
}

/**
 * folio_likely_mapped_shared() (6.12) for a THP: mapped once is exclusive, mapped by a PMD or more
 * often than it has pages is shared, otherwise "guess based on the first subpage".
 */
function folioLikelyMappedShared(mm: Mm, head: number): boolean {
  const mem = mm.mem;
  const mapcount = mem.refs[head];
  if (mapcount <= 1) return false;
  if (mem.compound[head] > 0 || mapcount > 512) return true;
  return mem.mapcount[head] > 1;
}

/** How many ptes from `slot` (at most `max`) map consecutive subpages of pfn's THP. */
function folioPteBatch(mm: Mm, slot: number, pfn: number, max: number): number {
  const head = mm.mem.thpHead(pfn);
  let n = 1;
  while (n < max) {
    const e = mm.pt.lo[slot + n];
    if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 || (e & _PAGE_SPECIAL) !== 0 || ((e >>> 12) | (mm.pt.hi[slot + n] << 20)) !== pfn + n || pfn + n >= head + 512) break;
    n++;
  }
  return n;
}

/**
 * shrink_folio_list() on a THP mapped by this huge PMD: a lazily freed THP whose PMD stayed clean
 * is dropped; otherwise the THP goes to swap whole (add_to_swap() of a THP), its PMD split by
 * try_to_unmap(TTU_SPLIT_HUGE_PMD) into swap ptes that keep the PMD's soft-dirty bit.
 */
function reclaimHugePmd(mm: Mm, pmd: number): void {
  const mem = mm.mem;
  const e = mm.pt.lo[pmd];
  const head = (e >>> 12) | (mm.pt.hi[pmd] << 20);
  if ((mem.flags[head] & PG_lazyfree) !== 0) {
    if ((e & _PAGE_DIRTY) === 0) {
      // Dropped pte by pte after the split: the PMD keeps an empty pte table, so the next fault
      // there is a 4 KiB one.
      splitHugePmd(mm, pmd);
      const base = mm.pt.pteTable(pmd, false);
      for (let i = 0; i < 512; i++) {
        mm.pt.lo[base + i] = 0;
        mm.pt.hi[base + i] = 0;
        mem.putPte(head + i);
      }
      mm.flushTlb();
      return;
    }
    // Written again since MADV_FREE: try_to_unmap_one() puts it back, swap-backed again.
    for (let i = 0; i < 512; i++) mem.flags[head + i] &= ~PG_lazyfree;
    splitHugePmd(mm, pmd);
    return;
  }
  if (mm.swap.nrSlots - mm.swap.inUse < 512 + 1) return;
  splitHugePmd(mm, pmd);
  const base = mm.pt.pteTable(pmd, false);
  for (let i = 0; i < 512; i++) swapOutPte(mm, base + i);
  mm.flushTlb();
}

/** 6.12: an exclusive THP wholly mapped by ptes in the range is reclaimed as one folio. */
function reclaimPteMappedThp(mm: Mm, vma: Vma, slot: number, head: number): void {
  const mem = mm.mem;
  if ((mem.flags[head] & PG_lazyfree) !== 0) {
    let dirty = false;
    for (let i = 0; i < 512; i++) if ((mm.pt.lo[slot + i] & _PAGE_DIRTY) !== 0) dirty = true;
    if (dirty) {
      for (let i = 0; i < 512; i++) mem.flags[head + i] &= ~PG_lazyfree;
      return;
    }
    for (let i = 0; i < 512; i++) {
      mm.pt.lo[slot + i] = 0;
      mm.pt.hi[slot + i] = 0;
      mem.putPte(head + i);
    }
    return;
  }
  if (mm.swap.nrSlots - mm.swap.inUse < 512 + 1) return;
  for (let i = 0; i < 512; i++) swapOutPte(mm, slot + i);
  void vma;
}

/** try_to_unmap_one() + pageout() of one exclusive, present anon pte: it becomes a swap pte. */
function swapOutPte(mm: Mm, slot: number): boolean {
  const mem = mm.mem;
  const swap = mm.swap;
  const e = mm.pt.lo[slot];
  const pfn = (e >>> 12) | (mm.pt.hi[slot] << 20);
  const pf = mem.flags[pfn];
  let s: number;
  if ((pf & PG_swapcache) !== 0) {
    s = mem.swapSlot[pfn];
    swap.dup(s);
  } else {
    s = swap.alloc(mem, pfn);
    if (s < 0) return false;
  }
  mem.flags[pfn] &= ~PG_lazyfree;
  let swp = swp_entry_lo(s) | _PAGE_SWP_EXCLUSIVE;
  if (mm.profile.swapSoftDirty && (e & _PAGE_SOFT_DIRTY) !== 0) swp |= _PAGE_SWP_SOFT_DIRTY;
  // try_to_unmap_one(): "if (pte_uffd_wp(pteval)) swp_pte = pte_swp_mkuffd_wp(swp_pte);"
  if ((e & _PAGE_UFFD_WP) !== 0) swp |= _PAGE_SWP_UFFD_WP;
  mm.pt.lo[slot] = swp;
  mm.pt.hi[slot] = swp_entry_hi(swap.type, s);
  mem.putPte(pfn);
  return true;
}

/**
 * Reclaim of a small page only this pte maps. Anonymous pages go to swap; a lazily freed page is
 * dropped unless its pte was written since (then it is swap-backed again and stays); shmem and
 * tmpfs pages are unmapped and written to swap by their file.
 */
function reclaimPte(mm: Mm, vma: Vma, vpn: number, slot: number): void {
  const mem = mm.mem;
  const e = mm.pt.lo[slot];
  const pfn = (e >>> 12) | (mm.pt.hi[slot] << 20);
  const pf = mem.flags[pfn];
  if ((pf & PG_shmem) !== 0) {
    // try_to_unmap_one() -> pte_install_uffd_wp_if_needed(): a protected pte leaves a marker.
    if (wantsUffdWpMarkerAfterZap(vma, e, 0)) {
      mm.pt.lo[slot] = PTE_MARKER_UFFD_WP_LO;
      mm.pt.hi[slot] = PTE_MARKER_UFFD_WP_HI;
    } else {
      mm.pt.lo[slot] = 0;
      mm.pt.hi[slot] = 0;
    }
    mem.putPte(pfn);
    const index = vma.fileIndex(vpn);
    if (vma.file !== null && vma.file.pfn[index] === pfn) vma.file.pageout(index, mem, mm.swap);
    return;
  }
  if ((pf & PG_anon) === 0) return;
  if ((pf & PG_lazyfree) !== 0) {
    if ((e & _PAGE_DIRTY) === 0) {
      mm.pt.lo[slot] = 0;
      mm.pt.hi[slot] = 0;
      mem.putPte(pfn);
    } else mem.flags[pfn] &= ~PG_lazyfree;
    return;
  }
  swapOutPte(mm, slot);
}

/**
 * madvise_free_pte_range(): swap entries are dropped; present anonymous pages get clean, old ptes
 * and become lazily freeable. A huge PMD wholly in the range is cleaned as one THP
 * (madvise_free_huge_pmd()); partly in it, it is split first. Only exclusive THPs are touched;
 * on 6.1.192 a pte-mapped THP is judged by its first page (folio_estimated_sharers(): a THP whose
 * head page is not mapped here counts as shared, and the walk stops there), while MADV_COLD and
 * MADV_PAGEOUT look at the subpage itself.
 */
function madviseFree(mm: Mm, vma: Vma, from: number, to: number): void {
  const mem = mm.mem;
  const batch = mm.profile.madviseFolioBatch;
  for (let a = from; a < to; ) {
    const next = Math.min(to, (Math.floor(a / 512) + 1) * 512);
    const pmd = mm.pt.pmdSlot(a, false);
    if (pmd < 0 || mm.pt.lo[pmd] === 0) {
      a = next;
      continue;
    }
    const pe = mm.pt.lo[pmd];
    if ((pe & _PAGE_PSE) !== 0) {
      const head = (pe >>> 12) | (mm.pt.hi[pmd] << 20);
      if (mem.isZero(head) || mem.refs[head] !== 1) {
        a = next;
        continue;
      }
      if (next - a === 512) {
        mm.pt.lo[pmd] = pe & ~(_PAGE_DIRTY | _PAGE_ACCESSED);
        for (let i = 0; i < 512; i++) mem.flags[head + i] = (mem.flags[head + i] | PG_lazyfree) & ~PG_dirty;
        a = next;
        continue;
      }
      splitHugePageIn(mm, vma, head, pmd, a);
      if ((mm.pt.lo[pmd] & _PAGE_PSE) !== 0) {
        a = next;
        continue;
      }
    }
    const base = mm.pt.pteSlot(a, false);
    const lo = mm.pt.lo;
    const hi = mm.pt.hi;
    for (let v = a; v < next; v++) {
      const s = base + (v - a);
      const e = lo[s];
      const h = hi[s];
      if (e === 0 && h === 0) continue;
      if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) {
        // madvise_free_pte_range(): only real swap entries go; pte markers (non_swap_entry()) stay.
        if (is_pte_marker(e, h)) continue;
        freeSwapAndCache(mm, e, h);
        lo[s] = 0;
        hi[s] = 0;
        continue;
      }
      if ((e & _PAGE_SPECIAL) !== 0) continue;
      const pfn = (e >>> 12) | (h << 20);
      const pf = mem.flags[pfn];
      if ((pf & PG_anon) === 0) continue;
      if ((pf & PG_thp) !== 0) {
        const head = mem.thpHead(pfn);
        if (batch) {
          const nr = folioPteBatch(mm, s, pfn, next - v);
          if (nr === 512 && pfn === head) {
            for (let i = 0; i < 512; i++) {
              lo[s + i] &= ~(_PAGE_DIRTY | _PAGE_ACCESSED);
              mem.flags[head + i] |= PG_lazyfree;
            }
            v += nr - 1;
            continue;
          }
          if (folioLikelyMappedShared(mm, head)) {
            v += nr - 1;
            continue;
          }
        } else if (mem.pageMapcount(head) !== 1) break; // folio_estimated_sharers()
        splitHugePageIn(mm, vma, head, -1, v);
        v--;
        continue;
      }
      if ((pf & (PG_swapcache | PG_dirty)) !== 0) {
        // A dirty page, or one still in the swap cache, is cleaned only when exclusive (and its
        // swap can be freed): "If page is shared with others, we couldn't clear PG_dirty".
        if (mem.pageMapcount(pfn) !== 1) continue;
        if ((pf & PG_swapcache) !== 0) {
          const slot = mem.swapSlot[pfn];
          if (mm.swap.swapMap[slot] !== 1) continue;
          mm.swap.put(slot);
          mem.flags[pfn] &= ~PG_swapcache;
        }
        mem.flags[pfn] &= ~PG_dirty;
      }
      lo[s] = e & ~(_PAGE_DIRTY | _PAGE_ACCESSED);
      mem.flags[pfn] |= PG_lazyfree;
    }
    a = next;
  }
}
