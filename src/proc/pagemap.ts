/**
 * /proc/PID/pagemap and the seed patch's /proc/PID/pagemap2 (fs/proc/task_mmu.c), read without
 * side effects. One 64-bit little-endian entry per virtual page, kept here as two 32-bit words:
 * out[2i] is bits 0..31, out[2i+1] bits 32..63.
 *
 * Linux 6.1 layout:
 *   63 PM_PRESENT | 62 PM_SWAP | 61 PM_FILE (page cache or shared anon) | 57 PM_UFFD_WP |
 *   56 PM_MMAP_EXCLUSIVE | 55 PM_SOFT_DIRTY | 0-54 PFN, or swap type (0-4) and offset (5-54)
 * The 2013 layout (seed): bits 55-60 hold PAGE_SHIFT in pagemap, and in pagemap2 "status2" flags of
 * which bit 55 is soft-dirty; there is no exclusive bit.
 */
import type { Mm } from '../mm/mm.js';
import { PG_anon, PG_thp } from '../mm/page-alloc.js';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  PAGE_SHIFT,
  SWP_PTE_MARKER,
  swp_offset,
  swp_type,
} from '../mm/pgtable-types.js';
import { VM_SOFTDIRTY } from '../mm/vma.js';

/** Bits of the high word (entry bits 32..63). */
export const PM_PRESENT_HI = 1 << 31;
export const PM_SWAP_HI = 1 << 30;
export const PM_FILE_HI = 1 << 29;
export const PM_MMAP_EXCLUSIVE_HI = 1 << 24;
export const PM_SOFT_DIRTY_HI = 1 << 23;
/** PM_UFFD_WP (bit 57): the pte, huge PMD or swap entry is uffd-wp protected, or a uffd-wp marker. */
export const PM_UFFD_WP_HI = 1 << 25;
/** Entry bit numbers, as the kernel documents them. */
export const PM_SOFT_DIRTY_BIT = 55;
export const PM_MMAP_EXCLUSIVE_BIT = 56;
export const PM_FILE_BIT = 61;
export const PM_SWAP_BIT = 62;
export const PM_PRESENT_BIT = 63;
export const PM_ENTRY_BYTES = 8;
const PM_PFRAME_HI_MASK = (1 << 23) - 1;
/** seed pagemap (v1): bits 55-60 carry the page shift. */
const PM_PSHIFT_HI = PAGE_SHIFT << 23;

export type PagemapFormat = 'pagemap' | 'pagemap2';

/** The file that reports soft-dirty: pagemap2 on the seed kernel, pagemap everywhere else. */
export function softDirtyPagemap(profile: { pagemap2: boolean }): PagemapFormat {
  return profile.pagemap2 ? 'pagemap2' : 'pagemap';
}

/**
 * Fill `out` (2 words per page) with the entries of pages [start, start + count).
 * `format` chooses the file: 'pagemap' (today's layout, or v1 on the seed kernel) or 'pagemap2'.
 */
export function readPagemap(mm: Mm, start: number, count: number, out: Uint32Array, format: PagemapFormat = 'pagemap'): void {
  const seed = !mm.profile.pagemapExclusive;
  const v1 = seed && format === 'pagemap';
  out.fill(0, 0, count * 2);
  // The 2013 pagemap reports PM_NOT_PRESENT (the page shift) even where no VMA is.
  if (v1) for (let i = 1; i < count * 2; i += 2) out[i] = PM_PSHIFT_HI;
  const exclusiveBit = mm.profile.pagemapExclusive ? PM_MMAP_EXCLUSIVE_HI : 0;
  const sdBit = v1 ? 0 : PM_SOFT_DIRTY_HI;
  const swapSd = mm.profile.swapSoftDirty;
  const mem = mm.mem;
  const pflags = mem.flags;
  const end = start + count;
  const pt = mm.pt;
  for (let vi = mm.vmaIndexFrom(start); vi < mm.vmas.length; vi++) {
    const vma = mm.vmas[vi];
    if (vma.start >= end) break;
    const from = Math.max(vma.start, start);
    const to = Math.min(vma.end, end);
    const vmaSd = mm.profile.vmSoftDirty && (vma.flags & VM_SOFTDIRTY) !== 0 ? PM_SOFT_DIRTY_HI : 0;
    const holeHi = (vmaSd | (v1 ? PM_PSHIFT_HI : 0)) >>> 0;
    for (let vpn = from; vpn < to; ) {
      const next = Math.min(to, (Math.floor(vpn / 512) + 1) * 512);
      const pmd = pt.pmdSlot(vpn, false);
      const pe = pmd < 0 ? 0 : pt.lo[pmd];
      let o = (vpn - start) * 2;
      if (pe === 0) {
        if (holeHi !== 0) for (let v = vpn; v < next; v++, o += 2) out[o + 1] = holeHi;
      } else if ((pe & _PAGE_PSE) !== 0) {
        // pagemap_pmd_range(): one THP, the same flags for each of its pages.
        const head = (pe >>> 12) | (pt.hi[pmd] << 20);
        let hi = PM_PRESENT_HI | vmaSd | (v1 ? PM_PSHIFT_HI : 0);
        if ((pe & _PAGE_SOFT_DIRTY) !== 0) hi |= sdBit;
        if ((pflags[head] & PG_anon) === 0) hi |= PM_FILE_HI;
        if ((pe & _PAGE_UFFD_WP) !== 0) hi |= PM_UFFD_WP_HI;
        if (!mem.isZero(head) && mem.pageMapcount(head) === 1) hi |= exclusiveBit;
        hi >>>= 0;
        for (let v = vpn; v < next; v++, o += 2) {
          out[o] = head + (v & 511);
          out[o + 1] = hi;
        }
      } else {
        const first = ((pe >>> 12) << 9) + (vpn - Math.floor(vpn / 512) * 512);
        const holeWord = vmaSd | (v1 ? PM_PSHIFT_HI : 0);
        ptePagemap(mm, first, next - vpn, out, o, holeWord, sdBit, exclusiveBit, swapSd);
      }
      vpn = next;
    }
  }
}

/** The bytes a read(2) of the file returns at byte `offset` (8-byte aligned) for `length` bytes. */
export function readPagemapBytes(mm: Mm, offset: number, length: number, format: PagemapFormat = 'pagemap'): Uint8Array {
  const start = offset / PM_ENTRY_BYTES;
  const count = Math.floor(length / PM_ENTRY_BYTES);
  const words = new Uint32Array(count * 2);
  readPagemap(mm, start, count, words, format);
  // x86-64 is little-endian, and so is a Uint32Array's buffer on it.
  return new Uint8Array(words.buffer, 0, count * PM_ENTRY_BYTES);
}

export function pmPresent(hi: number): boolean {
  return (hi & PM_PRESENT_HI) !== 0;
}
export function pmSwap(hi: number): boolean {
  return (hi & PM_SWAP_HI) !== 0;
}
export function pmFile(hi: number): boolean {
  return (hi & PM_FILE_HI) !== 0;
}
export function pmSoftDirty(hi: number): boolean {
  return (hi & PM_SOFT_DIRTY_HI) !== 0;
}
export function pmExclusive(hi: number): boolean {
  return (hi & PM_MMAP_EXCLUSIVE_HI) !== 0;
}
/** The PFN of a present entry (emulated PFNs fit in the low word). */
export function pmPfn(lo: number): number {
  return lo;
}

// Local copies of the bits the pte loop tests: the JIT folds module constants, not imported bindings.
const PTE_PRESENT_MASK = 0x101; // _PAGE_PRESENT | _PAGE_PROTNONE
const PTE_SOFT_DIRTY = 0x800; // _PAGE_SOFT_DIRTY
const PTE_SPECIAL = 0x200; // _PAGE_SPECIAL
const PTE_SWP_SOFT_DIRTY = 0x2; // _PAGE_SWP_SOFT_DIRTY
const PTE_UFFD_WP = 0x400; // _PAGE_UFFD_WP
const PTE_SWP_UFFD_WP = 0x4; // _PAGE_SWP_UFFD_WP
const F_ANON = 1; // PG_anon
const F_THP = 4; // PG_thp
if (
  PTE_PRESENT_MASK !== (_PAGE_PRESENT | _PAGE_PROTNONE) ||
  PTE_SOFT_DIRTY !== _PAGE_SOFT_DIRTY ||
  PTE_SPECIAL !== _PAGE_SPECIAL ||
  PTE_SWP_SOFT_DIRTY !== _PAGE_SWP_SOFT_DIRTY ||
  PTE_UFFD_WP !== _PAGE_UFFD_WP ||
  PTE_SWP_UFFD_WP !== _PAGE_SWP_UFFD_WP ||
  F_ANON !== PG_anon ||
  F_THP !== PG_thp
) {
  throw new Error('pagemap.ts: local bit constants disagree with pgtable-types.ts / page-alloc.ts');
}

/**
 * pagemap_pte_range() over one pte table: entries for `n` ptes from slot `first` into out[o..].
 * Kept apart so the JIT compiles this loop on its own. Indexes are integers only: page numbers
 * themselves are beyond 2^31 for addresses above 8 TiB.
 */
function ptePagemap(mm: Mm, first: number, n: number, out: Uint32Array, o: number, holeWord: number, sdBit: number, exclusiveBit: number, swapSd: boolean): void {
  const lo = mm.pt.lo;
  const hiw = mm.pt.hi;
  const mem = mm.mem;
  const pflags = mem.flags;
  const mapcount = mem.mapcount;
  const presentWord = holeWord | PM_PRESENT_HI;
  for (let j = 0; j < n; j++, o += 2) {
    const s = first + j;
    const e = lo[s];
    if ((e & (PTE_PRESENT_MASK)) !== 0) {
      const pfn = (e >>> 12) | (hiw[s] << 20);
      out[o] = pfn;
      let hi = presentWord;
      if ((e & PTE_SOFT_DIRTY) !== 0) hi |= sdBit;
      if ((e & PTE_UFFD_WP) !== 0) hi |= PM_UFFD_WP_HI;
      if ((e & PTE_SPECIAL) === 0) {
        const f = pflags[pfn];
        if ((f & F_ANON) === 0) hi |= PM_FILE_HI;
        if (((f & F_THP) !== 0 ? mem.pageMapcount(pfn) : mapcount[pfn]) === 1) hi |= exclusiveBit;
      }
      out[o + 1] = hi;
    } else if (e !== 0 || hiw[s] !== 0) {
      // Swap entry: type in bits 0-4, offset from bit 5.
      const h = hiw[s];
      const off = swp_offset(e, h);
      out[o] = ((off << 5) | swp_type(h)) >>> 0;
      let hi = holeWord | PM_SWAP_HI | (Math.floor(off / 2 ** 27) & PM_PFRAME_HI_MASK);
      if (swapSd && (e & PTE_SWP_SOFT_DIRTY) !== 0) hi |= PM_SOFT_DIRTY_HI;
      // pte_swp_uffd_wp(), pte_marker_entry_uffd_wp()
      if ((e & PTE_SWP_UFFD_WP) !== 0 || h >>> 27 === SWP_PTE_MARKER) hi |= PM_UFFD_WP_HI;
      out[o + 1] = hi >>> 0;
    } else if (holeWord !== 0) out[o + 1] = holeWord;
  }
}
