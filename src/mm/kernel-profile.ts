/**
 * Kernel profiles: which soft-dirty rules the emulated kernel follows.
 *
 * - `6.1`: Linux 6.1 with CONFIG_MEM_SOFT_DIRTY=y, as recorded in ../shared/kernel-traces.
 * - `6.12`: Debian's Linux 6.12.117, the same configuration (../shared/kernel-traces/traces-6.12).
 *   What changed since 6.1, as hooks below: a split huge PMD passes its dirty bit to the ptes
 *   (pte_mkdirty, so soft-dirty too), splitting a THP maps its zero-filled subpages to the shared
 *   zero page, smaps counts PROT_NONE THPs; userfaultfd WP_ASYNC / WP_UNPOPULATED and the
 *   PAGEMAP_SCAN ioctl exist (src/mm/userfaultfd.ts, src/proc/pagemap-scan.ts).
 * - `seed`: the patch as posted in April 2013 (Pavel Emelyanov, "mm: Soft-dirty bits for user
 *   memory changes tracking"), on the kernel of its day. Known gaps, each later fixed upstream:
 *     * no VM_SOFTDIRTY: a region unmapped and mapped again at the same address after a clear
 *       reports clean, including pages that are present again through read faults (zero page);
 *     * swap entries carry no soft-dirty bit: a page written after a clear and then swapped out
 *       reports clean;
 *     * clear_refs splits THPs (split_huge_page_pmd) instead of tracking per PMD;
 *     * shared writable mappings get writable ptes from vm_page_prot (no write-notify), so a read
 *       fault followed by a write, or mprotect r -> rw, lets writes through without a fault;
 *     * soft-dirty is read from /proc/PID/pagemap2 (bits 55-60 of pagemap hold the page shift).
 * - `no-soft-dirty`: 6.1 built without CONFIG_MEM_SOFT_DIRTY: _PAGE_SOFT_DIRTY and VM_SOFTDIRTY are
 *   0, so bit 55 is never set.
 */
export const KERNEL_PROFILES = ['6.1', '6.12', 'seed', 'no-soft-dirty'] as const;
export type KernelProfileName = (typeof KERNEL_PROFILES)[number];
export const DEFAULT_KERNEL: KernelProfileName = '6.1';

export interface KernelProfile {
  readonly name: KernelProfileName;
  /** CONFIG_MEM_SOFT_DIRTY: _PAGE_SOFT_DIRTY is a real bit. */
  readonly softDirty: boolean;
  /** New and expanded VMAs carry VM_SOFTDIRTY; pagemap reports it for every page of the VMA. */
  readonly vmSoftDirty: boolean;
  /** try_to_unmap_one() copies soft-dirty into the swap pte, do_swap_page() copies it back. */
  readonly swapSoftDirty: boolean;
  /** clear_refs splits huge PMDs (and their THPs) before clearing. */
  readonly clearRefsSplitsThp: boolean;
  /** Highest accepted clear_refs value (CLEAR_REFS_LAST - 1). */
  readonly clearRefsMax: number;
  /** Shared writable mappings are write-notified once VM_SOFTDIRTY is clear. */
  readonly sharedWriteNotify: boolean;
  /** PM_MMAP_EXCLUSIVE (bit 56) exists in pagemap. */
  readonly pagemapExclusive: boolean;
  /** /proc/PID/pagemap2 exists (the seed patch's file). */
  readonly pagemap2: boolean;
  /** mremap moves whole PMD-aligned page tables without touching their ptes (move_normal_pmd). */
  readonly moveNormalPmd: boolean;
  /** mprotect may make a dirty, exclusive pte writable without a fault (MM_CP_TRY_CHANGE_WRITABLE). */
  readonly mprotectTryWritable: boolean;
  /**
   * __split_huge_pmd_locked(): a dirty huge PMD makes dirty ptes, and pte_mkdirty() sets
   * soft-dirty ("mm/thp: re-apply mkdirty for small pages after split", Linux 6.3).
   */
  readonly splitPmdKeepsDirty: boolean;
  /**
   * remap_page(RMP_USE_SHARED_ZEROPAGE) after __split_huge_page(): zero-filled subpages of an anon
   * THP are mapped to the shared zero page (try_to_map_unused_to_zeropage(), Linux 6.12).
   */
  readonly splitMapsZeroSubpages: boolean;
  /**
   * smaps_pmd_entry(): 6.1 looks the page up with follow_trans_huge_pmd(FOLL_DUMP), which refuses
   * PROT_NONE PMDs (gup_can_follow_protnone()); later kernels use vm_normal_page_pmd().
   */
  readonly smapsProtNoneThp: boolean;
  /**
   * mprotect_fixup(): making an anonymous VMA that never had an anon_vma non-writable drops
   * VM_ACCOUNT ("allow unfaulted VMAs to be unaccounted on mprotect()", Linux 6.5).
   */
  readonly mprotectUnaccounts: boolean;
  /**
   * split_huge_page(): remove_migration_pte() gives a subpage whose migration entry was dirty
   * pte_mkdirty(), which sets soft-dirty on x86: on 6.1 a THP written, then cleared by
   * clear_refs 4, comes out of a split all soft-dirty (fixtures/oracle/6.1 r-1-0080, r-1-0192,
   * r-1-0267). On 6.12.117 the same scenarios show only the entry's own soft-dirty bit coming
   * back; which 6.12 change drops the dirty bit there is not pinned down yet.
   */
  readonly splitPageRedirties: boolean;
  /**
   * do_wp_page() may reuse a subpage of a large folio that nothing else references (6.1: the
   * folio_ref_count() test); 6.12's wp_can_reuse_anon_folio() never does ("let's just
   * consistently not reuse subpages"), unless the page is PageAnonExclusive.
   */
  readonly wpReusesLargeFolio: boolean;
  /**
   * madvise_cold_or_pageout_pte_range() / madvise_free_pte_range() see a pte-mapped THP as one
   * folio (madvise_folio_pte_batch(), 6.12): left whole when the range covers it, skipped when
   * folio_likely_mapped_shared(); 6.1 splits an exclusive one and stops at a shared one (for
   * MADV_FREE judged by its first page, see madviseFree()).
   */
  readonly madviseFolioBatch: boolean;
  /** userfaultfd(2) exists (Linux 4.3; write-protect mode since 5.7). */
  readonly userfaultfd: boolean;
  /**
   * UFFD_FEATURE_WP_UNPOPULATED (6.4) and UFFD_FEATURE_WP_ASYNC (6.7) are in UFFD_API_FEATURES:
   * write faults on protected ptes are resolved by the kernel (do_wp_page()) instead of waiting for
   * a monitor, and empty ptes of anonymous memory can be protected with pte markers. 6.1's
   * userfaultfd_api() refuses them with EINVAL.
   */
  readonly uffdWpAsync: boolean;
  /** The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (6.7); without it the ioctl is ENOTTY. */
  readonly pagemapScan: boolean;
  /**
   * mwriteprotect_range() walks every VMA of the range (for_each_vma_range(), 6.12); 6.1 needs the
   * range inside one VMA (find_dst_vma()), ENOENT otherwise.
   */
  readonly uffdWpSpansVmas: boolean;
  /**
   * uffd_wp_range() unprotects with newprot = vm_get_page_prot(vma->vm_flags) (6.1): every present
   * pte of a shared writable VMA in the range becomes writable, write-notify and soft-dirty
   * notwithstanding. 6.2+ keeps vm_page_prot and tries MM_CP_TRY_CHANGE_WRITABLE instead.
   */
  readonly uffdUnprotectMakesSharedWritable: boolean;
}

/** Linux 6.1.192, the reference of ../shared/kernel-traces; the others are told by how they differ. */
const LINUX_6_1: KernelProfile = {
  name: '6.1',
  softDirty: true,
  vmSoftDirty: true,
  swapSoftDirty: true,
  clearRefsSplitsThp: false,
  clearRefsMax: 5,
  sharedWriteNotify: true,
  pagemapExclusive: true,
  pagemap2: false,
  moveNormalPmd: true,
  mprotectTryWritable: true,
  splitPmdKeepsDirty: false,
  splitMapsZeroSubpages: false,
  smapsProtNoneThp: false,
  mprotectUnaccounts: false,
  splitPageRedirties: true,
  wpReusesLargeFolio: true,
  madviseFolioBatch: false,
  userfaultfd: true,
  uffdWpAsync: false,
  pagemapScan: false,
  uffdWpSpansVmas: false,
  uffdUnprotectMakesSharedWritable: true,
};

const PROFILES: Record<KernelProfileName, KernelProfile> = {
  '6.1': LINUX_6_1,
  '6.12': {
    ...LINUX_6_1,
    name: '6.12',
    splitPmdKeepsDirty: true,
    splitMapsZeroSubpages: true,
    smapsProtNoneThp: true,
    mprotectUnaccounts: true,
    splitPageRedirties: false,
    wpReusesLargeFolio: false,
    madviseFolioBatch: true,
    uffdWpAsync: true,
    pagemapScan: true,
    uffdWpSpansVmas: true,
    uffdUnprotectMakesSharedWritable: false,
  },
  // The April 2013 patch, before the rules later kernels added.
  seed: {
    ...LINUX_6_1,
    name: 'seed',
    vmSoftDirty: false,
    swapSoftDirty: false,
    clearRefsSplitsThp: true,
    clearRefsMax: 4,
    sharedWriteNotify: false,
    pagemapExclusive: false,
    pagemap2: true,
    moveNormalPmd: false,
    mprotectTryWritable: false,
    userfaultfd: false,
  },
  // 6.1 built without CONFIG_MEM_SOFT_DIRTY.
  'no-soft-dirty': {
    ...LINUX_6_1,
    name: 'no-soft-dirty',
    softDirty: false,
    vmSoftDirty: false,
    swapSoftDirty: false,
    sharedWriteNotify: false,
  },
};

export function isKernelProfileName(s: string): s is KernelProfileName {
  return (KERNEL_PROFILES as readonly string[]).includes(s);
}

export function kernelProfile(name: KernelProfileName): KernelProfile {
  return PROFILES[name];
}
