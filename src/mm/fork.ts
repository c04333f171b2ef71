/** fork(2) (kernel/fork.c dup_mmap, mm/memory.c copy_page_range) and exit_mmap. */
import { zapRange } from './mmap.js';
import { Mm } from './mm.js';
import { walkPageRange } from './pagewalk.js';
import { PG_anon_exclusive } from './page-alloc.js';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  is_pte_marker,
  swp_offset,
} from './pgtable-types.js';
import { newAnonVmaId, VM_SHARED, VM_UFFD_WP } from './vma.js';

/**
 * dup_mmap(): the child gets copies of all VMAs (VM_SOFTDIRTY included) and, for VMAs with an
 * anon_vma, of their page tables: private pages are write-protected in both for copy-on-write,
 * soft-dirty bits are kept on both sides, swap entries are shared.
 */
export function forkMm(parent: Mm): Mm {
  const child = new Mm(parent.kernel);
  const mem = parent.mem;
  for (const vma of parent.vmas) {
    const c = vma.clone();
    // dup_userfaultfd(): without UFFD_FEATURE_EVENT_FORK the child's VMAs are not registered
    // (userfaultfd_reset_ctx()), so copy_page_range() drops uffd-wp bits and markers for them.
    c.uffdCtx = null;
    c.flags &= ~VM_UFFD_WP;
    if (c.anonVma !== 0) {
      // anon_vma_fork(): every child VMA gets an anon_vma of its own, so pieces of one parent
      // VMA do not merge back in the child.
      c.anonVma = newAnonVmaId();
      c.forked = true;
    }
    child.insertVma(c);
    if (vma.anonVma === 0) continue;
    const cow = (vma.flags & VM_SHARED) === 0;
    walkPageRange(parent, vma.start, vma.end, {
      pmdEntry(pmd, from) {
        const e = parent.pt.lo[pmd];
        const wp = cow ? e & ~_PAGE_RW : e;
        parent.pt.lo[pmd] = wp;
        const cp = child.pt.pmdSlot(from, true);
        child.pt.lo[cp] = wp & ~(_PAGE_ACCESSED | _PAGE_UFFD_WP);
        child.pt.hi[cp] = parent.pt.hi[pmd];
        const head = (e >>> 12) | (parent.pt.hi[pmd] << 20);
        mem.getPmd(head);
        // page_try_dup_anon_rmap(): shared now, so no longer exclusive.
        if (!mem.isZero(head)) for (let i = 0; i < 512; i++) mem.flags[head + i] &= ~PG_anon_exclusive;
        return true;
      },
      pteRange(slot, from, to) {
        // copy_pte_range() allocates the child's pte table before it looks at any entry: one the
        // parent holds only empty ptes or uffd-wp markers in becomes an empty table in the child.
        child.pt.pteSlot(from, true);
        for (let i = 0; i < to - from; i++) {
          const pl = parent.pt.lo;
          const ph = parent.pt.hi;
          const e = pl[slot + i];
          const h = ph[slot + i];
          if (e === 0 && h === 0) continue;
          // copy_nonpresent_pte(): a uffd-wp marker is copied only into a uffd-wp VMA.
          if (is_pte_marker(e, h)) continue;
          let ce: number;
          if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
            let pe = e;
            if (cow && (e & _PAGE_RW) !== 0) pe = e & ~_PAGE_RW;
            pl[slot + i] = pe;
            ce = pe & ~(_PAGE_ACCESSED | _PAGE_UFFD_WP);
            if (!cow) ce &= ~_PAGE_DIRTY;
            if ((e & _PAGE_SPECIAL) === 0) {
              const pfn = (e >>> 12) | (h << 20);
              mem.getPte(pfn);
              mem.flags[pfn] &= ~PG_anon_exclusive;
            }
          } else {
            parent.swap.dup(swp_offset(e, h));
            pl[slot + i] = e & ~_PAGE_SWP_EXCLUSIVE;
            ce = e & ~(_PAGE_SWP_EXCLUSIVE | _PAGE_SWP_UFFD_WP);
          }
          const cs = child.pt.pteSlot(from + i, true);
          child.pt.lo[cs] = ce;
          child.pt.hi[cs] = h;
        }
      },
    });
  }
  parent.flushTlb();
  return child;
}

/** exit_mmap(): tear down every mapping. */
export function exitMm(mm: Mm): void {
  for (const vma of [...mm.vmas]) {
    zapRange(mm, vma.start, vma.end);
    mm.removeVma(vma);
  }
  mm.flushTlb();
}
