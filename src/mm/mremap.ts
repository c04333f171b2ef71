/** mremap(2) (mm/mremap.c). Moved ptes become soft-dirty: for the user their contents moved. */
import { EFAULT, EINVAL, ENOMEM } from './errno.js';
import { splitHugePmd } from './huge-memory.js';
import { getUnmappedArea, munmap, TASK_SIZE_VPN, vmEnoughMemory } from './mmap.js';
import type { Mm } from './mm.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_SWP_SOFT_DIRTY, _PAGE_SWP_UFFD_WP, _PAGE_UFFD_WP, is_pte_marker } from './pgtable-types.js';
import { VM_ACCOUNT, VM_UFFD_WP, Vma } from './vma.js';

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;

/**
 * move_page_tables(): move the entries of `pages` pages from oldStart to newStart. `clearUffdWp`:
 * the VMA is registered with a userfaultfd without UFFD_FEATURE_EVENT_REMAP
 * (vma_has_uffd_without_event_remap()), so its uffd-wp bits are cleared and its markers dropped on
 * the way, and pte tables are not moved whole.
 */
function movePageTables(mm: Mm, oldStart: number, newStart: number, pages: number, clearUffdWp: boolean): void {
  const pt = mm.pt;
  const sd = mm.softDirtyBit;
  const swpSd = mm.profile.swapSoftDirty ? _PAGE_SWP_SOFT_DIRTY : 0;
  for (let off = 0; off < pages; ) {
    const o = oldStart + off;
    const n = newStart + off;
    const extent = Math.min(512 - (o % 512), pages - off, 512 - (n % 512));
    const oldPmd = pt.pmdSlot(o, false);
    if (oldPmd < 0 || pt.lo[oldPmd] === 0) {
      off += extent;
      continue;
    }
    if ((pt.lo[oldPmd] & _PAGE_PSE) !== 0) {
      if (extent === 512) {
        // move_huge_pmd(): the PMD moves whole and becomes soft-dirty.
        const newPmd = pt.pmdSlot(n, true);
        const e = pt.lo[oldPmd];
        pt.lo[oldPmd] = 0;
        pt.lo[newPmd] = (e | sd) & (clearUffdWp ? ~_PAGE_UFFD_WP : -1);
        pt.generation++;
        off += extent;
        continue;
      }
      splitHugePmd(mm, oldPmd);
    } else if (mm.profile.moveNormalPmd && extent === 512 && !clearUffdWp) {
      // move_normal_pmd(): the whole pte table changes hands; its ptes are not touched, so they
      // keep the soft-dirty state they had (Linux 6.1 marks nothing here).
      const newPmd = pt.pmdSlot(n, true);
      if (pt.lo[newPmd] === 0) {
        const table = pt.detachPteTable(oldPmd);
        pt.attachPteTable(newPmd, table);
        off += extent;
        continue;
      }
    }
    // pte_alloc(new_pmd) comes first, so the new place gets a pte table even when no pte moves
    // (and a later fault there cannot be a THP one); then move_ptes() with move_soft_dirty_pte().
    pt.pteSlot(n, true);
    for (let i = 0; i < extent; i++) {
      const os = pt.pteSlot(o + i, false);
      if (os < 0) continue;
      const e = pt.lo[os];
      const h = pt.hi[os];
      if (e === 0 && h === 0) continue;
      pt.lo[os] = 0;
      pt.hi[os] = 0;
      if (clearUffdWp && is_pte_marker(e, h)) continue;
      const ns = pt.pteSlot(n + i, true);
      const present = (e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
      const wp = clearUffdWp ? (present ? _PAGE_UFFD_WP : _PAGE_SWP_UFFD_WP) : 0;
      pt.lo[ns] = (e | (present ? sd : swpSd)) & ~wp;
      pt.hi[ns] = h;
    }
    off += extent;
  }
  pt.generation++;
}

/** move_vma(): copy_vma() at the new place, move the page tables, unmap the old range. */
function moveVma(mm: Mm, vma: Vma, oldStart: number, oldPages: number, newStart: number, newPages: number): number {
  // Only the growth is charged (the recorded kernels move 400000 accounted pages to 900000).
  if ((vma.flags & VM_ACCOUNT) !== 0 && newPages > oldPages && !vmEnoughMemory(mm, newPages - oldPages)) return -ENOMEM;
  // copy_vma(): an anonymous VMA that never had an anon_vma takes the pgoff of its new address,
  // so it can merge there; otherwise the pgoff follows the pages.
  const pgoff = vma.kind === 'anon' && vma.anonVma === 0 ? newStart : vma.fileIndex(oldStart);
  const moved = new Vma(newStart, newStart + newPages, vma.flags, vma.kind, pgoff, vma.file, vma.anonVma, vma.forked);
  moved.uffdCtx = vma.uffdCtx;
  mm.insertVma(moved);
  const survivor = mm.mergeNeighbours(moved, 'copy_vma');
  movePageTables(mm, oldStart, newStart, Math.min(oldPages, newPages), vma.uffdCtx !== null);
  // mremap_userfaultfd_prep(): "Drop uffd context if remap feature not enabled".
  if (survivor.uffdCtx !== null) {
    survivor.uffdCtx = null;
    survivor.flags &= ~VM_UFFD_WP;
  }
  munmap(mm, oldStart, oldPages);
  mm.flushTlb();
  return newStart;
}

/** vma_to_resize(): the VMA at oldStart must hold the whole old range. */
function vmaToResize(mm: Mm, oldStart: number, oldPages: number): Vma | number {
  const vma = mm.findVma(oldStart);
  if (vma === null) return -EFAULT;
  if (oldPages > vma.end - oldStart) return -EFAULT;
  return vma;
}

/**
 * mremap(2) on [oldStart, oldStart + oldPages): shrink, grow in place, or (with MREMAP_MAYMOVE)
 * move, to `newAddr` with MREMAP_FIXED. Returns the new first page or -errno. The order of the
 * checks and of the unmaps is the kernel's: a shrink never looks past the VMA at oldStart, and a
 * move unmaps the destination and the old tail before it checks the rest (mremap_to()).
 */
export function mremap(mm: Mm, oldStart: number, oldPages: number, newPages: number, flags = 0, newAddr?: number): number {
  if (!Number.isInteger(newPages) || newPages <= 0 || !Number.isInteger(oldPages) || oldPages < 0) return -EINVAL;
  if ((flags & MREMAP_FIXED) !== 0 && (flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
  if (mm.findVma(oldStart) === null) return -EFAULT;
  if ((flags & MREMAP_FIXED) !== 0) {
    if (newAddr === undefined || newAddr < 0 || newAddr + newPages > TASK_SIZE_VPN) return -EINVAL;
    if (newAddr < oldStart + oldPages && oldStart < newAddr + newPages) return -EINVAL;
    munmap(mm, newAddr, newPages);
    if (oldPages > newPages) {
      munmap(mm, oldStart + newPages, oldPages - newPages);
      oldPages = newPages;
    }
    const v = vmaToResize(mm, oldStart, oldPages);
    if (typeof v === 'number') return v;
    return moveVma(mm, v, oldStart, oldPages, newAddr, newPages);
  }
  if (newPages <= oldPages) {
    // "Always allow a shrinking remap: that just unmaps the unnecessary pages."
    if (newPages < oldPages) munmap(mm, oldStart + newPages, oldPages - newPages);
    return oldStart;
  }
  const vma = vmaToResize(mm, oldStart, oldPages);
  if (typeof vma === 'number') return vma;
  if (oldStart + oldPages === vma.end) {
    const i = mm.vmas.indexOf(vma);
    const next = i + 1 < mm.vmas.length ? mm.vmas[i + 1] : null;
    const newEnd = oldStart + newPages;
    // vma_expandable()
    if ((next === null || next.start >= newEnd) && newEnd <= TASK_SIZE_VPN) {
      if ((vma.flags & VM_ACCOUNT) !== 0 && !vmEnoughMemory(mm, newPages - oldPages)) return -ENOMEM;
      // vma_merge() on the extension: the VMA grows, keeping its VM_SOFTDIRTY state.
      vma.end = newEnd;
      mm.mergeNeighbours(vma, 'expand');
      return oldStart;
    }
  }
  if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
  const dest = getUnmappedArea(mm, newPages);
  if (dest < 0) return dest;
  return moveVma(mm, vma, oldStart, oldPages, dest, newPages);
}
