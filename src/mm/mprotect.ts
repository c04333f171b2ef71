/** mprotect(2) (mm/mprotect.c). */
import { EACCES, EINVAL, ENOMEM } from './errno.js';
import { splitHugePmd } from './huge-memory.js';
import { protToVmFlags, PROT_WRITE, vmEnoughMemory } from './mmap.js';
import type { Mm } from './mm.js';
import { PG_anon, PG_swapcache } from './page-alloc.js';
import { walkPageRange } from './pagewalk.js';
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, _PAGE_SOFT_DIRTY, _PAGE_SPECIAL, _PAGE_UFFD_WP, _PAGE_USER } from './pgtable-types.js';
import { VM_ACCOUNT, VM_EXEC, VM_MAYWRITE, VM_READ, VM_SHARED, VM_UFFD_WP, VM_WRITE, type Vma } from './vma.js';

const PROT_BITS = _PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_USER | _PAGE_RW;

/** can_change_pte_writable(): may mprotect make this pte writable without a write fault? */
export function canChangePteWritable(mm: Mm, vma: Vma, e: number, h: number): boolean {
  if ((e & _PAGE_PROTNONE) !== 0 || (e & _PAGE_DIRTY) === 0) return false;
  // Soft-dirty tracking needs the write fault.
  if (mm.softDirtyEnabled(vma) && (e & _PAGE_SOFT_DIRTY) === 0) return false;
  // "Do we need write faults for uffd-wp tracking?"
  if ((e & _PAGE_UFFD_WP) !== 0 && (vma.flags & VM_UFFD_WP) !== 0) return false;
  if ((vma.flags & VM_SHARED) !== 0) return true;
  if ((e & _PAGE_SPECIAL) !== 0) return false;
  const pfn = (e >>> 12) | (h << 20);
  const f = mm.mem.flags[pfn];
  return (f & PG_anon) !== 0 && (f & PG_swapcache) === 0 && mm.mem.pageMapcount(pfn) === 1;
}

/** change_protection() over [start, end) of one VMA whose flags are already the new ones. */
export function changeProtection(mm: Mm, vma: Vma, start: number, end: number): void {
  const prot = mm.pageProt(vma) & PROT_BITS;
  // vma_wants_manual_pte_write_upgrade(): vma_wants_writenotify() needs a shared *writable* VMA.
  const tryWritable =
    mm.profile.mprotectTryWritable && (vma.flags & VM_WRITE) !== 0 && ((vma.flags & VM_SHARED) === 0 || mm.wantsWriteNotify(vma));
  const lo = mm.pt.lo;
  walkPageRange(mm, start, end, {
    pmdEntry(pmd, from, to) {
      if (to - from < 512) {
        splitHugePmd(mm, pmd);
        return false;
      }
      // change_huge_pmd(): never made writable here.
      mm.pt.lo[pmd] = (mm.pt.lo[pmd] & ~PROT_BITS) | prot;
      return true;
    },
    pteRange(slot, from, to) {
      const l = mm.pt.lo;
      for (let i = 0; i < to - from; i++) {
        const e = l[slot + i];
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) continue;
        let n = (e & ~PROT_BITS) | (prot & ((e & _PAGE_SPECIAL) !== 0 ? ~_PAGE_RW : -1));
        if (tryWritable && (n & _PAGE_RW) === 0 && canChangePteWritable(mm, vma, n, mm.pt.hi[slot + i])) n |= _PAGE_RW;
        l[slot + i] = n;
      }
    },
  });
  void lo;
  mm.flushTlb();
}

/** mprotect(2): returns 0 or -errno. Like the kernel, VMAs before a hole are already changed. */
export function mprotect(mm: Mm, start: number, pages: number, prot: number): number {
  if (!Number.isInteger(start) || !Number.isInteger(pages) || pages < 0 || (prot & ~7) !== 0) return -EINVAL;
  if (pages === 0) return 0;
  const end = start + pages;
  let cur = start;
  let vma = mm.findVma(cur);
  if (vma === null) return -ENOMEM;
  const vmProt = protToVmFlags(prot);
  for (;;) {
    if ((prot & PROT_WRITE) !== 0 && (vma.flags & VM_MAYWRITE) === 0) return -EACCES;
    let newflags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | vmProt;
    if ((newflags & (VM_WRITE | VM_SHARED)) === VM_WRITE && (vma.flags & (VM_ACCOUNT | VM_WRITE)) === 0) {
      // mprotect_fixup(): a private mapping turning writable is charged for its pages.
      if (!vmEnoughMemory(mm, Math.min(vma.end, end) - Math.max(vma.start, cur))) return -ENOMEM;
      newflags |= VM_ACCOUNT;
    } else if ((newflags & (VM_WRITE | VM_SHARED)) === VM_WRITE) newflags |= VM_ACCOUNT;
    else if ((newflags & VM_WRITE) === 0 && mm.profile.mprotectUnaccounts && vma.kind === 'anon' && vma.anonVma === 0) newflags &= ~VM_ACCOUNT;
    const pieceEnd = Math.min(vma.end, end);
    if (newflags !== vma.flags) {
      mm.splitAround(cur, pieceEnd);
      const piece = mm.findVma(cur)!;
      piece.flags = newflags;
      changeProtection(mm, piece, cur, pieceEnd);
      mm.mergeNeighbours(piece);
    }
    cur = pieceEnd;
    if (cur >= end) return 0;
    // A merge may have swallowed cur into the VMA before it: look it up, do not expect a boundary.
    const next = mm.findVma(cur);
    if (next === null) return -ENOMEM;
    vma = next;
  }
}
