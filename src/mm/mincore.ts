/**
 * mincore(2) (mm/mincore.c): which pages of a range are resident. A present pte (the zero page
 * too) or a huge PMD is resident; an empty pte is resident when the VMA's file has the page in its
 * page cache (__mincore_unmapped_range()); a swap pte only while its page is still in the swap
 * cache; other non-swap entries, pte markers among them, count as resident ("migration or
 * hwpoison entries are always uptodate").
 */
import { EINVAL, ENOMEM } from './errno.js';
import type { Mm } from './mm.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, is_pte_marker, swp_offset } from './pgtable-types.js';

/** Fill vec[0..pages) with 1 (resident) or 0; returns 0 or -errno (ENOMEM: a hole in the range). */
export function mincore(mm: Mm, start: number, pages: number, vec: Uint8Array): number {
  if (pages <= 0 || vec.length < pages) return -EINVAL;
  const end = start + pages;
  vec.fill(0, 0, pages);
  const pt = mm.pt;
  let vpn = start;
  while (vpn < end) {
    const vma = mm.findVma(vpn);
    if (vma === null) return -ENOMEM;
    const to = Math.min(end, vma.end);
    for (; vpn < to; ) {
      const next = Math.min(to, (Math.floor(vpn / 512) + 1) * 512);
      const pmd = pt.pmdSlot(vpn, false);
      const pe = pmd < 0 ? 0 : pt.lo[pmd];
      if ((pe & _PAGE_PSE) !== 0) vec.fill(1, vpn - start, next - start);
      else if (pe === 0) unmappedRange(mm, vma.file, vma, vpn, next, vec, start);
      else {
        const base = (pe >>> 12) << 9;
        for (let v = vpn; v < next; v++) {
          const lo = pt.lo[base | (v & 511)];
          const hi = pt.hi[base | (v & 511)];
          if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) vec[v - start] = 1;
          else if (lo === 0 && hi === 0) unmappedRange(mm, vma.file, vma, v, v + 1, vec, start);
          else if (is_pte_marker(lo, hi)) vec[v - start] = 1;
          else vec[v - start] = mm.swap.cache[swp_offset(lo, hi)] >= 0 ? 1 : 0;
        }
      }
      vpn = next;
    }
  }
  return 0;
}

/** __mincore_unmapped_range(): the file's page cache decides; anonymous memory is not resident. */
function unmappedRange(mm: Mm, file: import('./shmem.js').ShmemFile | null, vma: import('./vma.js').Vma, from: number, to: number, vec: Uint8Array, start: number): void {
  if (file === null) return;
  void mm;
  for (let v = from; v < to; v++) {
    const index = vma.fileIndex(v);
    if (index < file.nrPages && file.pfn[index] >= 0) vec[v - start] = 1;
  }
}
