/** mmap(2) and munmap(2) (mm/mmap.c). */
import { EINVAL, ENOMEM } from './errno.js';
import { splitHugePmd, zapHugePmd } from './huge-memory.js';
import { zapPtes } from './memory.js';
import type { Mm } from './mm.js';
import { walkPageRange } from './pagewalk.js';
import { _PAGE_PSE } from './pgtable-types.js';
import { ShmemFile } from './shmem.js';
import {
  VM_ACCOUNT,
  VM_EXEC,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  Vma,
  type VmaKind,
} from './vma.js';

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** Lowest page the emulated kernel hands out without MAP_FIXED (0x100000000000 >> 12). */
export const MMAP_BASE_VPN = 0x100000000;
/** Largest user page number: a 47-bit address space. */
export const TASK_SIZE_VPN = 2 ** 35;

export function protToVmFlags(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

export interface MmapRequest {
  /** Page number to map at; with `fixed` it is where the mapping goes, else a hint. */
  start?: number;
  pages: number;
  prot: number;
  kind: VmaKind;
  fixed?: boolean;
  /** For `file`: the file to map privately. Shared anonymous mappings get a fresh shmem file. */
  file?: ShmemFile;
  /** Page offset into `file`. */
  pgoff?: number;
  /** MAP_NORESERVE: no overcommit charge (the restorer re-creating a VMA that had none). */
  noreserve?: boolean;
}

/** get_unmapped_area(): the lowest free range of `pages` at or above `hint`, 2 MiB aligned. */
export function getUnmappedArea(mm: Mm, pages: number, hint = MMAP_BASE_VPN): number {
  let addr = Math.max(hint, MMAP_BASE_VPN);
  addr = Math.ceil(addr / 512) * 512;
  for (let i = mm.vmaIndexFrom(addr); i < mm.vmas.length; i++) {
    const v = mm.vmas[i];
    if (v.start >= addr + pages) break;
    addr = Math.ceil(v.end / 512) * 512;
  }
  return addr + pages <= TASK_SIZE_VPN ? addr : -ENOMEM;
}

/**
 * __vm_enough_memory() with the default overcommit heuristic (OVERCOMMIT_GUESS): a single charge
 * larger than all of RAM and swap together fails; anything else is allowed.
 */
export function vmEnoughMemory(mm: Mm, pages: number): boolean {
  return pages <= mm.kernel.totalramPages + mm.swap.nrSlots - 1;
}

/** mmap(2): returns the first page of the new mapping, or -errno. */
export function mmap(mm: Mm, req: MmapRequest): number {
  const pages = req.pages;
  if (!Number.isInteger(pages) || pages <= 0) return -EINVAL;
  if (req.kind === 'file' && req.file === undefined) return -EINVAL;
  let start: number;
  if (req.fixed) {
    if (req.start === undefined || !Number.isInteger(req.start) || req.start < 0) return -EINVAL;
    // get_unmapped_area(): a range beyond TASK_SIZE is -ENOMEM, also with MAP_FIXED.
    if (req.start + pages > TASK_SIZE_VPN) return -ENOMEM;
    start = req.start;
    munmap(mm, start, pages);
  } else {
    start = getUnmappedArea(mm, pages, req.start);
    if (start < 0) return start;
  }
  let flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | protToVmFlags(req.prot);
  if (req.kind === 'shared') flags |= VM_SHARED | VM_MAYSHARE;
  else if ((flags & VM_WRITE) !== 0 && req.noreserve !== true) flags |= VM_ACCOUNT; // accountable_mapping()
  // mmap_region() charges a private writable mapping, shmem_zero_setup() a shared anonymous one
  // (shmem_acct_size()), after the old mappings of a fixed range are gone.
  if (((flags & VM_ACCOUNT) !== 0 || (req.kind === 'shared' && req.noreserve !== true)) && !vmEnoughMemory(mm, pages)) return -ENOMEM;
  let file: ShmemFile | null = null;
  let pgoff = start;
  if (req.kind === 'shared') {
    file = new ShmemFile('/dev/zero (deleted)', pages, false);
    pgoff = 0;
  } else if (req.kind === 'file') {
    file = req.file!;
    pgoff = req.pgoff ?? 0;
  }
  const vma = new Vma(start, start + pages, flags, req.kind, pgoff, file);
  mm.insertVma(vma);
  const merged = mm.mergeNeighbours(vma, 'mmap_region');
  // "New (or expanded) vma always get soft dirty status": a range unmapped and mapped again must
  // look completely new to a soft-dirty tracker.
  merged.flags |= mm.vmSoftDirty;
  mm.flushTlb();
  return start;
}

/**
 * zap_page_range(): drop every pte and huge PMD in [start, end). `details`: see zapPtes() (the VMA
 * of a MADV_DONTNEED, whose uffd-wp protected shmem and file ptes leave markers).
 */
export function zapRange(mm: Mm, start: number, end: number, details: Vma | null = null): void {
  walkPageRange(mm, start, end, {
    pmdEntry(pmd, from, to) {
      if (to - from === 512) {
        zapHugePmd(mm, pmd);
        return true;
      }
      splitHugePmd(mm, pmd);
      return false;
    },
    pteRange(_slot, from, to) {
      zapPtes(mm, from, to, details);
    },
  });
  mm.flushTlb();
}

/** free_pgtables(): pte tables under [start, end) that no VMA covers any more are freed. */
export function freePgtables(mm: Mm, start: number, end: number): void {
  const pt = mm.pt;
  for (let base = Math.floor(start / 512) * 512; base < end; base += 512) {
    if (mm.vmasIn(base, base + 512).length > 0) continue;
    const pmd = pt.pmdSlot(base, false);
    if (pmd < 0) continue;
    const e = pt.lo[pmd];
    if (e === 0 || (e & _PAGE_PSE) !== 0) continue;
    const table = (e >>> 12) << 9;
    if (!pt.tableIsEmpty(table)) continue;
    pt.detachPteTable(pmd);
    pt.freeTable(table >>> 9);
  }
  mm.flushTlb();
}

/** munmap(2) / do_munmap(). */
export function munmap(mm: Mm, start: number, pages: number): number {
  if (!Number.isInteger(pages) || pages <= 0 || !Number.isInteger(start) || start < 0) return -EINVAL;
  const end = start + pages;
  if (mm.vmasIn(start, end).length === 0) return 0;
  mm.splitAround(start, end);
  for (const vma of mm.vmasIn(start, end)) {
    zapRange(mm, vma.start, vma.end);
    mm.removeVma(vma);
  }
  freePgtables(mm, start, end);
  return 0;
}
