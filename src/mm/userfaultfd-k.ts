/**
 * The userfaultfd predicates the rest of mm asks (include/linux/userfaultfd_k.h): is a VMA
 * registered for write-protection, are its faults resolved asynchronously, are its empty ptes
 * protected by markers. The ioctls themselves are in userfaultfd.ts.
 */
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  is_pte_marker,
} from './pgtable-types.js';
import { VM_UFFD_WP, type Vma } from './vma.js';

export const UFFD_FEATURE_SIGBUS = 1 << 7;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;

/** userfaultfd_wp(): the VMA is registered in write-protect mode. */
export function userfaultfdWp(vma: Vma): boolean {
  return (vma.flags & VM_UFFD_WP) !== 0;
}

/** userfaultfd_wp_async(): the kernel resolves this VMA's write-protect faults itself. */
export function userfaultfdWpAsync(vma: Vma): boolean {
  return vma.uffdCtx !== null && (vma.uffdCtx.features & UFFD_FEATURE_WP_ASYNC) !== 0;
}

/** userfaultfd_wp_use_markers(): empty ptes of this VMA are protected by pte markers. */
export function userfaultfdWpUseMarkers(vma: Vma): boolean {
  if (!userfaultfdWp(vma)) return false;
  if (vma.kind !== 'anon') return true;
  return vma.uffdCtx !== null && (vma.uffdCtx.features & UFFD_FEATURE_WP_UNPOPULATED) !== 0;
}

/** userfaultfd_pte_wp(): a write to this pte must be reported (or resolved) as a uffd-wp fault. */
export function userfaultfdPteWp(vma: Vma, lo: number): boolean {
  return (lo & _PAGE_UFFD_WP) !== 0 && userfaultfdWp(vma);
}

/**
 * pte_install_uffd_wp_if_needed(): when a protected pte of shmem or a file mapping is zapped (not
 * munmap, which drops markers: ZAP_FLAG_DROP_MARKER) or unmapped by reclaim, a marker keeps the
 * protection, since the page still exists in the page cache or swap. "Zap on anonymous always
 * means dropping everything."
 */
export function wantsUffdWpMarkerAfterZap(vma: Vma, lo: number, hi: number): boolean {
  if (vma.kind === 'anon' || !userfaultfdWp(vma)) return false;
  if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) return (lo & _PAGE_UFFD_WP) !== 0;
  if (lo === 0 && hi === 0) return false;
  return is_pte_marker(lo, hi) || (lo & _PAGE_SWP_UFFD_WP) !== 0;
}
