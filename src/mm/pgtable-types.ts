/**
 * x86-64 page-table entry bits, by their kernel names (arch/x86/include/asm/pgtable_types.h).
 *
 * An entry is 64 bits wide. tracker keeps it as two 32-bit words: `lo` holds bits 0..31 (the flags
 * and bits 0..19 of the PFN), `hi` bits 32..63 (PFN bits 20 and up, as x86 keeps the PFN in bits
 * 12..51; or, in a swap entry, offsets beyond 2^23 pages and the swap type). A present entry's PFN
 * is (lo >>> 12) | (hi << 20); below 4 GiB of emulated memory `hi` is 0. Hot paths only touch `lo`.
 *
 *   lo:  31 ............. 12 | 11 | 10 | 9 | 8 | 7 | 6 | 5 | 4 3 | 2 | 1 | 0
 *        PFN bits 0..19      | SD | UW |SP | G | PSE| D | A |     | U | RW| P
 *   hi:  19 .. 0  PFN bits 20..39
 *
 * Swap entries (present clear) reuse the word:
 *   lo:  31 ......... 9 | ... | 3 (PWT) | 2 (USER) | 1 (RW) | 0
 *        offset, low 23 bits  | EXCLUSIVE | SWP_UFFD_WP | SWP_SOFT_DIRTY | 0
 *   hi:  31..27 type | 26..0 offset >> 23
 * A pte marker (include/linux/swapops.h) is a swap entry of type SWP_PTE_MARKER whose offset holds
 * the marker bits; the only one emulated is PTE_MARKER_UFFD_WP.
 * (The kernel stores the offset inverted against L1TF; nothing observable depends on that.)
 */
export const _PAGE_BIT_PRESENT = 0;
export const _PAGE_BIT_RW = 1;
export const _PAGE_BIT_USER = 2;
export const _PAGE_BIT_PWT = 3;
export const _PAGE_BIT_ACCESSED = 5;
export const _PAGE_BIT_DIRTY = 6;
export const _PAGE_BIT_PSE = 7;
export const _PAGE_BIT_GLOBAL = 8;
/** _PAGE_BIT_SOFTW3: the software bit the soft-dirty patch took. */
export const _PAGE_BIT_SOFT_DIRTY = 11;

export const _PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT;
export const _PAGE_RW = 1 << _PAGE_BIT_RW;
export const _PAGE_USER = 1 << _PAGE_BIT_USER;
export const _PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED;
export const _PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY;
export const _PAGE_PSE = 1 << _PAGE_BIT_PSE;
/** PROT_NONE ptes: present cleared for the hardware, but pte_present() still true. Shares bit 8. */
export const _PAGE_PROTNONE = 1 << _PAGE_BIT_GLOBAL;
export const _PAGE_SOFT_DIRTY = 1 << _PAGE_BIT_SOFT_DIRTY;
/**
 * _PAGE_UFFD_WP (_PAGE_SOFTW2): the pte is write-protected for userfaultfd; pte_mkuffd_wp() also
 * clears _PAGE_RW, so the next write faults (arch/x86/include/asm/pgtable.h).
 */
export const _PAGE_BIT_UFFD_WP = 10;
export const _PAGE_UFFD_WP = 1 << _PAGE_BIT_UFFD_WP;
/** Marks the zero page and other pages vm_normal_page() must not return (pte_special). */
export const _PAGE_SPECIAL = 1 << 9;

/** Bit 1 is not part of the swap entry encoding, so soft-dirty borrows it (_PAGE_SWP_SOFT_DIRTY). */
export const _PAGE_SWP_SOFT_DIRTY = _PAGE_RW;
/** _PAGE_SWP_EXCLUSIVE (_PAGE_PWT): the swapped page was mapped only here. */
export const _PAGE_SWP_EXCLUSIVE = 1 << _PAGE_BIT_PWT;
/** _PAGE_SWP_UFFD_WP (_PAGE_USER): a swapped-out pte that was uffd-wp protected. */
export const _PAGE_SWP_UFFD_WP = _PAGE_USER;
export const SWP_OFFSET_FIRST_BIT = 9;
export const SWP_OFFSET_LO_BITS = 32 - SWP_OFFSET_FIRST_BIT;
export const SWP_TYPE_SHIFT_HI = 27;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PTRS_PER_TABLE = 512;
export const HPAGE_PMD_NR = 512;
export const HPAGE_PMD_SHIFT = 21;
export const HPAGE_PMD_SIZE = 1 << HPAGE_PMD_SHIFT;

/** Flags kept in the low 12 bits of a present pte (everything below the PFN). */
export const PTE_FLAGS_MASK = 0xfff;

export function pte_present(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}

export function pte_none(lo: number, hi: number): boolean {
  return lo === 0 && hi === 0;
}

/** Bits of the PFN the low word holds; the rest are in the high word's low bits. */
export const PFN_LO_BITS = 20;

export function pte_pfn(lo: number, hi: number): number {
  return (lo >>> PAGE_SHIFT) | (hi << PFN_LO_BITS);
}

export function is_swap_pte(lo: number, hi: number): boolean {
  return !pte_present(lo) && !pte_none(lo, hi);
}

export function swp_offset(lo: number, hi: number): number {
  return (lo >>> SWP_OFFSET_FIRST_BIT) + (hi & ((1 << SWP_TYPE_SHIFT_HI) - 1)) * (1 << SWP_OFFSET_LO_BITS);
}

export function swp_entry_lo(offset: number): number {
  return ((offset % (1 << SWP_OFFSET_LO_BITS)) << SWP_OFFSET_FIRST_BIT) | 0;
}

export function swp_entry_hi(type: number, offset: number): number {
  return ((type << SWP_TYPE_SHIFT_HI) | Math.floor(offset / (1 << SWP_OFFSET_LO_BITS))) | 0;
}

export function swp_type(hi: number): number {
  return hi >>> SWP_TYPE_SHIFT_HI;
}

/** The swap type of pte markers (SWP_PTE_MARKER): no swap device has it. */
export const SWP_PTE_MARKER = 31;
/** PTE_MARKER_UFFD_WP: an empty pte that userfaultfd write-protects (UFFD_FEATURE_WP_UNPOPULATED, shmem). */
export const PTE_MARKER_UFFD_WP = 1;
/** make_pte_marker(PTE_MARKER_UFFD_WP), low and high words. */
export const PTE_MARKER_UFFD_WP_LO = PTE_MARKER_UFFD_WP << SWP_OFFSET_FIRST_BIT;
export const PTE_MARKER_UFFD_WP_HI = (SWP_PTE_MARKER << SWP_TYPE_SHIFT_HI) | 0;

/** is_pte_marker(): a non-present pte that is a marker, not a swap entry. */
export function is_pte_marker(lo: number, hi: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0 && hi >>> SWP_TYPE_SHIFT_HI === SWP_PTE_MARKER;
}

/** pte_swp_uffd_wp_any(): a swap pte with _PAGE_SWP_UFFD_WP, or a uffd-wp marker. */
export function pte_swp_uffd_wp_any(lo: number, hi: number): boolean {
  if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0 || (lo === 0 && hi === 0)) return false;
  return is_pte_marker(lo, hi) || (lo & _PAGE_SWP_UFFD_WP) !== 0;
}
