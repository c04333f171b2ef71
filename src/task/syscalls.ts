/**
 * One task's system calls, as its own code makes them: mmap, munmap, mremap, mprotect, madvise,
 * opening a shmem (tmpfs) file, and writing into its own memory. Workloads, the op executor and
 * the restorer go through this facade; what is below it (src/mm) is the kernel. Arguments are the
 * syscalls' own (PROT_*, MAP_*, MREMAP_*, MADV_* names), addresses in pages; results are a page
 * number or -errno, as the kernel returns them.
 */
import { EINVAL, type FaultResult } from '../mm/errno.js';
import { DEFAULT_MEMORY_BYTES, Kernel, type Task, type KernelOptions } from '../mm/kernel.js';
import { madvise, type MadviseAdvice } from '../mm/madvise.js';
import { mmap, munmap } from '../mm/mmap.js';
import { mprotect } from '../mm/mprotect.js';
import { mremap } from '../mm/mremap.js';
import { ShmemFile } from '../mm/shmem.js';
import { populateWrite } from '../mm/memory.js';
import { forEachFrameRun, forEachPageRun } from '../proc/mem.js';

export { PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
export { MREMAP_FIXED, MREMAP_MAYMOVE } from '../mm/mremap.js';
export type { MadviseAdvice };

/** The largest machine the emulator makes (its frame numbers' limit). */
export const MAX_MEMORY_BYTES = DEFAULT_MEMORY_BYTES;

/** mmap(2) flags, with Linux's values. */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;

/** madvise(2) advice numbers (Linux's), as CRIU's vma_entry.madv records them: a bit per advice. */
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

/** A file opened for mapping: a tmpfs file (the only kind the emulated machine has). */
export type FileHandle = ShmemFile;

export interface MmapArgs {
  /** Page to map at: with MAP_FIXED where the mapping goes, else a hint. */
  addr?: number;
  pages: number;
  prot: number;
  /** MAP_SHARED or MAP_PRIVATE, with MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE. */
  flags: number;
  /** The file to map (without MAP_ANONYMOUS). */
  file?: FileHandle;
  /** Page offset into the file. */
  pgoff?: number;
}

export class TaskSyscalls {
  constructor(readonly task: Task) {}

  /** A new task in a fresh emulated machine (the restorer's starting point). */
  static spawn(comm: string, opts: KernelOptions = {}): TaskSyscalls {
    return new TaskSyscalls(new Kernel(opts).spawn(comm));
  }

  /** mmap(2); the emulated machine has no shared file mappings (-EINVAL). */
  mmap(a: MmapArgs): number {
    const anonymous = (a.flags & MAP_ANONYMOUS) !== 0;
    const shared = (a.flags & MAP_SHARED) !== 0;
    if (shared && !anonymous) return -EINVAL;
    const kind = shared ? 'shared' : anonymous ? 'anon' : 'file';
    return mmap(this.task.mm, {
      start: a.addr,
      pages: a.pages,
      prot: a.prot,
      kind,
      fixed: (a.flags & MAP_FIXED) !== 0,
      file: anonymous ? undefined : a.file,
      pgoff: a.pgoff,
      noreserve: (a.flags & MAP_NORESERVE) !== 0,
    });
  }

  munmap(addr: number, pages: number): number {
    return munmap(this.task.mm, addr, pages);
  }

  mremap(oldAddr: number, oldPages: number, newPages: number, flags = 0, newAddr?: number): number {
    return mremap(this.task.mm, oldAddr, oldPages, newPages, flags, newAddr);
  }

  mprotect(addr: number, pages: number, prot: number): number {
    return mprotect(this.task.mm, addr, pages, prot);
  }

  madvise(addr: number, pages: number, advice: MadviseAdvice): number {
    return madvise(this.task.mm, addr, pages, advice);
  }

  /** open() of a tmpfs file of `pages` pages, page i holding the byte (i % 251) + 1. */
  openFile(name: string, pages: number): FileHandle {
    return ShmemFile.withPattern(name, pages);
  }

  /** A store of one byte at byte `offset` of page `vpn`, faulting as the CPU would. */
  store8(vpn: number, offset: number, value: number): FaultResult {
    return this.task.mm.store8(vpn, offset, value);
  }

  /** Copy one page of data into page `vpn` of its own memory (a store faults it in first). */
  writePage(vpn: number, data: Uint8Array): FaultResult {
    return this.task.mm.populatePage(vpn, data);
  }

  /**
   * The iovecs a preadv(2) into `n` pages of its own memory from `vpn` would fill, in `out`: each
   * page is faulted in by a store first, as the restorer's read would. Returns the pages faulted
   * in: less than n when page vpn + result lies outside every VMA (and `out` is then unset).
   */
  memoryIovecs(vpn: number, n: number, out: Uint8Array[]): number {
    const mm = this.task.mm;
    // The read's stores fault the pages in (get_user_pages() for write): in bulk where the fault
    // is the plain anonymous one, else a store per page.
    const ok = populateWrite(mm, vpn, n, (v) => mm.store8(v, 0, 0));
    if (ok < n) return ok;
    out.length = 0;
    const push = (arr: Uint8Array, off: number, len: number) => out.push(arr.subarray(off, off + len));
    if (mm.mem.tokens !== null) forEachPageRun(mm, n, (i) => vpn + i, push);
    else if (forEachFrameRun(mm, vpn, n, push) < n) throw new Error(`internal: a page faulted in for write from 0x${(vpn * 4096).toString(16)} has no frame`);
    return n;
  }
}
