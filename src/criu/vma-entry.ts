/**
 * CRIU's vma_entry (images/vma.proto): a VMA as the syscalls that re-create it take it, filled in
 * at dump time from what /proc/PID/maps and smaps say (CRIU's proc_parse.c does the same from the
 * maps permissions and smaps' VmFlags):
 *
 *   maps "rw-p", no file    prot PROT_READ|PROT_WRITE   map_flags MAP_PRIVATE|MAP_ANONYMOUS
 *   maps "rw-s" (shmem)     prot PROT_READ|PROT_WRITE   map_flags MAP_SHARED|MAP_ANONYMOUS
 *   maps "r--p" file        prot PROT_READ              map_flags MAP_PRIVATE
 *   VmFlags without "ac"    (not charged)               map_flags |= MAP_NORESERVE
 *   VmFlags "hg" / "nh"                                 madv 1 << MADV_HUGEPAGE / MADV_NOHUGEPAGE
 *
 * The restorer then makes exactly these calls. mm.img version 1 held vm_flags only: its
 * arguments are taken from them the same way when it is read.
 */
import { VM_ACCOUNT, VM_EXEC, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_READ, VM_WRITE, type VmaKind } from '../mm/vma.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from '../task/syscalls.js';

export interface VmaSyscallArgs {
  /** PROT_* as mmap(2) and mprotect(2) take them. */
  prot: number;
  /** MAP_* as mmap(2) takes them (MAP_FIXED is the restorer's). */
  map_flags: number;
  /** Advice given with madvise(2), a bit per MADV_* number (CRIU's vma_entry.madv). */
  madv: number;
}

export function vmaSyscallArgs(kind: VmaKind, vmFlags: number): VmaSyscallArgs {
  const prot = (vmFlags & VM_READ ? PROT_READ : 0) | (vmFlags & VM_WRITE ? PROT_WRITE : 0) | (vmFlags & VM_EXEC ? PROT_EXEC : 0);
  const map_flags = (kind === 'shared' ? MAP_SHARED : MAP_PRIVATE) | (kind === 'file' ? 0 : MAP_ANONYMOUS) | ((vmFlags & VM_ACCOUNT) === 0 ? MAP_NORESERVE : 0);
  const madv = ((vmFlags & VM_HUGEPAGE) !== 0 ? 1 << MADV_HUGEPAGE : 0) | ((vmFlags & VM_NOHUGEPAGE) !== 0 ? 1 << MADV_NOHUGEPAGE : 0);
  return { prot, map_flags, madv };
}

/** The madvise(2) calls a madv bit set stands for, in the order the restorer makes them. */
export const MADV_BITS = [
  [MADV_HUGEPAGE, 'hugepage'],
  [MADV_NOHUGEPAGE, 'nohugepage'],
] as const;
