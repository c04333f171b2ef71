/**
 * Transparent huge pages (mm/huge_memory.c). THP mode is `madvise`: only VMAs with VM_HUGEPAGE
 * get 2 MiB pages, one PMD each, and soft-dirty is tracked per PMD until the PMD is split.
 */
import { FAULT_OK, type FaultResult } from './errno.js';
import type { Mm } from './mm.js';
import { PG_anon_exclusive, PG_dirty, PG_head, PG_thp, PG_used } from './page-alloc.js';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_UFFD_WP,
  _PAGE_USER,
  HPAGE_PMD_NR,
} from './pgtable-types.js';
import { VM_HUGEPAGE, VM_NOHUGEPAGE, type Vma } from './vma.js';

export const HUGE_FALLBACK = 1;

/** hugepage_vma_check() + transhuge_vma_suitable() for an anonymous fault at vpn. */
export function thpEligible(mm: Mm, vma: Vma, vpn: number): boolean {
  if (vma.kind !== 'anon') return false;
  if ((vma.flags & (VM_HUGEPAGE | VM_NOHUGEPAGE)) !== VM_HUGEPAGE) return false;
  const haddr = vpn - (vpn % HPAGE_PMD_NR);
  void mm;
  return haddr >= vma.start && haddr + HPAGE_PMD_NR <= vma.end;
}

/** do_huge_pmd_anonymous_page(): a read maps the huge zero page, a write a fresh THP. */
export function doHugePmdAnonymousPage(mm: Mm, vma: Vma, vpn: number, pmd: number, write: boolean): FaultResult | typeof HUGE_FALLBACK {
  const prot = mm.pageProt(vma);
  void vpn;
  // The anon_vma comes before the zero-page choice, so a read fault gives the VMA one too (and
  // fork then copies its page tables), unlike do_anonymous_page()'s 4 KiB zero page.
  mm.anonVmaPrepare(vma);
  if (!write) {
    mm.pt.lo[pmd] = (mm.mem.hugeZeroPfn << 12) | (prot & ~_PAGE_RW) | _PAGE_PSE | _PAGE_SPECIAL;
    mm.pt.hi[pmd] = 0;
    mm.counters.thpFaults++;
    return FAULT_OK;
  }
  const head = mm.mem.allocHuge();
  if (head < 0) return HUGE_FALLBACK;
  mm.anonVmaPrepare(vma);
  mm.mem.getPmd(head);
  mm.pt.lo[pmd] = (head << 12) | prot | _PAGE_RW | _PAGE_PSE | mm.dirtyBits;
  mm.pt.hi[pmd] = head >>> 20;
  mm.counters.thpFaults++;
  return FAULT_OK;
}

/**
 * do_huge_pmd_wp_page(): a write to a write-protected huge PMD. An exclusive THP is reused whole
 * (pmd_mkdirty sets soft-dirty for all 512 pages); the huge zero page and shared THPs are split
 * and the write is handled per 4 KiB page.
 */
export function doHugePmdWpPage(mm: Mm, vma: Vma, vpn: number, pmd: number): FaultResult | typeof HUGE_FALLBACK {
  const e = mm.pt.lo[pmd];
  const head = (e >>> 12) | (mm.pt.hi[pmd] << 20);
  void vma;
  const mem = mm.mem;
  if (!mem.isZero(head) && ((mem.flags[head] & PG_anon_exclusive) !== 0 || (mem.refs[head] === 1 && mem.compound[head] === 1))) {
    // page_move_anon_rmap(): the whole THP is this process's again.
    for (let i = 0; i < HPAGE_PMD_NR; i++) mem.flags[head + i] |= PG_anon_exclusive;
    mm.pt.lo[pmd] = e | _PAGE_RW | _PAGE_ACCESSED | mm.dirtyBits;
    mm.counters.softDirtyFaults++;
    return FAULT_OK;
  }
  splitHugePmd(mm, pmd);
  void vpn;
  return HUGE_FALLBACK;
}

/**
 * __split_huge_pmd_locked(): replace a huge PMD by a table of 512 ptes. Write, young and soft-dirty
 * pass to every pte; dirty does not (pte_mkdirty would set soft-dirty on x86). The huge zero page
 * becomes 512 mappings of the 4 KiB zero page, without soft-dirty.
 */
export function splitHugePmd(mm: Mm, pmd: number): void {
  const pt = mm.pt;
  const e = pt.lo[pmd];
  if ((e & _PAGE_PSE) === 0) return;
  const head = (e >>> 12) | (pt.hi[pmd] << 20);
  const base = pt.installPteTable(pmd);
  const lo = pt.lo;
  const hi = pt.hi;
  const mem = mm.mem;
  if (mem.isZero(head)) {
    // __split_huge_zero_page_pmd(): a uffd-wp PMD gives uffd-wp ptes.
    const z = (mem.zeroPfn << 12) | (e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_USER | _PAGE_ACCESSED | _PAGE_UFFD_WP)) | _PAGE_SPECIAL;
    for (let i = 0; i < HPAGE_PMD_NR; i++) lo[base + i] = z;
  } else {
    // __split_huge_pmd_locked(): "uffd_wp = pmd_uffd_wp(old_pmd)" passes to every pte.
    let keep = e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_USER | _PAGE_RW | _PAGE_ACCESSED | _PAGE_SOFT_DIRTY | _PAGE_UFFD_WP);
    // 6.3+: "re-apply mkdirty for small pages after split"; pte_mkdirty() sets soft-dirty on x86.
    if (mm.profile.splitPmdKeepsDirty && (e & _PAGE_DIRTY) !== 0) keep |= mm.dirtyBits;
    // SetPageDirty() of the THP when the PMD was dirty.
    const pgDirty = (e & _PAGE_DIRTY) !== 0 ? PG_dirty : 0;
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      lo[base + i] = ((head + i) << 12) | keep;
      hi[base + i] = head >>> 20;
      mem.getPte(head + i);
      mem.flags[head + i] |= pgDirty;
    }
    mem.putPmd(head);
  }
  pt.generation++;
  // pmdp_invalidate(): the cached huge translation goes, so dirty is tracked per pte from now on.
  mm.flushTlb();
}

/**
 * split_huge_page() of the THP at `head`, mapped in `vma` by the huge PMD at `pmd` (or, with
 * pmd < 0, by ptes near vpn). The kernel unmaps every subpage to a migration entry (which keeps
 * soft-dirty, and dirty where the pte or PMD was dirty: __split_huge_pmd_locked(freeze),
 * try_to_migrate_one()) and maps it back (remove_migration_pte(): a dirty entry gets pte_mkdirty(),
 * so soft-dirty again). On 6.12 a zero-filled subpage comes back as the shared zero page, keeping
 * only the entry's soft-dirty bit (try_to_map_unused_to_zeropage()). Subpages nothing maps are freed.
 * Only this mm's mappings are rewritten; a THP also mapped by another mm's PMD stays whole.
 */
export function splitHugePageIn(mm: Mm, vma: Vma, head: number, pmd: number, vpn: number): void {
  const mem = mm.mem;
  if (mem.isZero(head) || (mem.flags[head] & PG_head) === 0) return;
  void vma;
  void pmd;
  void vpn;
  // The rmap walk: every mapping of the THP, in every process (a forked child's too).
  const mms = new Set<Mm>([mm]);
  for (const task of mm.kernel.tasks.values()) mms.add(task.mm);
  const maps: { m: Mm; slot: number }[] = [];
  for (const m of mms) collectThpMappings(m, head, maps);
  // The folio is dirty if any mapping was (folio_mark_dirty()); its subpages inherit PG_dirty.
  let dirty = (mem.flags[head] & PG_dirty) !== 0;
  for (const { m, slot } of maps) if ((m.pt.lo[slot] & _PAGE_DIRTY) !== 0) dirty = true;
  for (let i = 0; i < HPAGE_PMD_NR; i++) mem.flags[head + i] = (mem.flags[head + i] & ~(PG_thp | PG_head)) | (dirty ? PG_dirty : 0);
  mem.refs[head] = 0;
  mem.compound[head] = 0;
  for (const { m, slot } of maps) {
    const lo = m.pt.lo;
    const e = lo[slot];
    const pfn = (e >>> 12) | (m.pt.hi[slot] << 20);
    if (mm.profile.splitMapsZeroSubpages && mem.isZeroFilled(pfn)) {
      lo[slot] = (mem.zeroPfn << 12) | (e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_USER | _PAGE_ACCESSED | _PAGE_SOFT_DIRTY)) | _PAGE_SPECIAL;
      m.pt.hi[slot] = 0;
      mem.putPte(pfn);
    } else if (mm.profile.splitPageRedirties && (e & _PAGE_DIRTY) !== 0) lo[slot] = e | m.dirtyBits;
  }
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    if (mem.mapcount[head + i] === 0 && (mem.flags[head + i] & PG_used) !== 0) mem.freeFrame(head + i);
  }
  for (const m of mms) m.flushTlb();
}

/**
 * The slots of m's ptes that map subpages of the THP at `head`; a huge PMD mapping it is first
 * turned into 512 ptes, as __split_huge_pmd_locked(freeze) does (write, young, dirty and
 * soft-dirty carried in the migration entries).
 */
function collectThpMappings(m: Mm, head: number, out: { m: Mm; slot: number }[]): void {
  const pt = m.pt;
  const mem = m.mem;
  for (const v of m.vmas) {
    if (v.anonVma === 0) continue;
    for (let a = v.start; a < v.end; ) {
      const next = Math.min(v.end, (Math.floor(a / HPAGE_PMD_NR) + 1) * HPAGE_PMD_NR);
      const pmd = pt.pmdSlot(a, false);
      if (pmd < 0 || pt.lo[pmd] === 0) {
        a = next;
        continue;
      }
      let e = pt.lo[pmd];
      if ((e & _PAGE_PSE) !== 0) {
        if (((e >>> 12) | (pt.hi[pmd] << 20)) !== head) {
          a = next;
          continue;
        }
        const base = pt.installPteTable(pmd);
        const keep = e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_USER | _PAGE_RW | _PAGE_ACCESSED | _PAGE_SOFT_DIRTY | _PAGE_DIRTY);
        for (let i = 0; i < HPAGE_PMD_NR; i++) {
          pt.lo[base + i] = ((head + i) << 12) | keep;
          pt.hi[base + i] = head >>> 20;
          mem.getPte(head + i);
        }
        mem.putPmd(head);
        pt.generation++;
        e = pt.lo[pmd];
      }
      const base = (e >>> 12) << 9;
      for (let x = a; x < next; x++) {
        const slot = base | (x & 511);
        const p = pt.lo[slot];
        if ((p & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 || (p & _PAGE_SPECIAL) !== 0) continue;
        const pfn = (p >>> 12) | (pt.hi[slot] << 20);
        if (pfn >= head && pfn < head + HPAGE_PMD_NR) out.push({ m, slot });
      }
      a = next;
    }
  }
}

/** split_huge_pmd_address(): split the huge PMD covering vpn, if vpn is not at its start. */
export function splitHugePmdAt(mm: Mm, vpn: number): void {
  if (vpn % HPAGE_PMD_NR === 0) return;
  const pmd = mm.pt.pmdSlot(vpn, false);
  if (pmd >= 0 && (mm.pt.lo[pmd] & _PAGE_PSE) !== 0) splitHugePmd(mm, pmd);
}

/**
 * split_huge_page(): turn a THP (already mapped only by ptes) into 512 ordinary pages. Pages no pte
 * maps any more are freed.
 */
export function splitHugePage(mm: Mm, head: number): void {
  const mem = mm.mem;
  if (mem.isZero(head) || (mem.flags[head] & PG_head) === 0 || mem.compound[head] !== 0) return;
  for (let i = 0; i < HPAGE_PMD_NR; i++) mem.flags[head + i] &= ~(PG_thp | PG_head);
  mem.refs[head] = 0;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    if (mem.mapcount[head + i] === 0) mem.freeFrame(head + i);
  }
  // The chunk's frames now live as single frames; the allocator counted the THP as 512 used.
}

/** zap_huge_pmd(): drop a whole huge PMD. */
export function zapHugePmd(mm: Mm, pmd: number): void {
  const e = mm.pt.lo[pmd];
  const h = mm.pt.hi[pmd];
  mm.pt.lo[pmd] = 0;
  mm.pt.hi[pmd] = 0;
  mm.mem.putPmd((e >>> 12) | (h << 20));
  mm.pt.generation++;
}
