import type { PageAlloc } from './page-alloc.js';
import { PG_shmem } from './page-alloc.js';
import type { SwapDevice } from './swap.js';

let nextShmemId = 1;

/**
 * A shmem (tmpfs) file: its page cache, and the swap slots of pages that were paged out. It backs
 * MAP_SHARED|MAP_ANONYMOUS mappings ("/dev/zero (deleted)") and the tmpfs files that private file
 * mappings map. Page i of a file made by `ShmemFile.withPattern` holds the byte (i % 251) + 1.
 */
export class ShmemFile {
  readonly id = nextShmemId++;
  /** PFN of page i, or -1. */
  pfn: Int32Array;
  /** Swap slot of page i while it is paged out, or 0. */
  swap: Int32Array;
  refs = 0;

  constructor(
    readonly name: string,
    public nrPages: number,
    readonly pattern: boolean,
  ) {
    this.pfn = new Int32Array(nrPages).fill(-1);
    this.swap = new Int32Array(nrPages);
  }

  static withPattern(name: string, nrPages: number): ShmemFile {
    return new ShmemFile(name, nrPages, true);
  }

  /** The byte every byte of page `index` holds in a fresh file of this kind. */
  patternByte(index: number): number {
    return this.pattern ? (index % 251) + 1 : 0;
  }

  resize(nrPages: number, mem: PageAlloc, swap: SwapDevice): void {
    if (nrPages < this.nrPages) {
      for (let i = nrPages; i < this.nrPages; i++) this.dropPage(i, mem, swap);
    }
    const pfn = new Int32Array(nrPages).fill(-1);
    const sw = new Int32Array(nrPages);
    pfn.set(this.pfn.subarray(0, Math.min(nrPages, this.nrPages)));
    sw.set(this.swap.subarray(0, Math.min(nrPages, this.nrPages)));
    this.pfn = pfn;
    this.swap = sw;
    this.nrPages = nrPages;
  }

  /** shmem_get_folio(): the page cache page for `index`, read back from swap or created. -1 on OOM. */
  getPage(index: number, mem: PageAlloc, swap: SwapDevice): number {
    let pfn = this.pfn[index];
    if (pfn >= 0) return pfn;
    pfn = mem.allocFrame(PG_shmem);
    if (pfn < 0) return -1;
    const slot = this.swap[index];
    if (slot !== 0) {
      swap.readInto(slot, mem, pfn);
      swap.put(slot);
      this.swap[index] = 0;
    } else if (this.pattern) {
      mem.fillFrame(pfn, this.patternByte(index));
    }
    this.pfn[index] = pfn;
    return pfn;
  }

  /** write(2) of every page: all of the file is in the page cache. False when memory runs out. */
  writeAll(mem: PageAlloc, swap: SwapDevice): boolean {
    for (let i = 0; i < this.nrPages; i++) if (this.getPage(i, mem, swap) < 0) return false;
    return true;
  }

  /** Write an unmapped page cache page to swap and drop it (shmem_writepage). */
  pageout(index: number, mem: PageAlloc, swap: SwapDevice): boolean {
    const pfn = this.pfn[index];
    if (pfn < 0 || mem.mapcount[pfn] !== 0) return false;
    const slot = swap.alloc(mem, pfn);
    if (slot < 0) return false;
    this.swap[index] = slot;
    this.pfn[index] = -1;
    mem.freeFrame(pfn);
    return true;
  }

  /** Punch a hole (MADV_REMOVE, truncation): the page and its swap copy are gone. */
  dropPage(index: number, mem: PageAlloc, swap: SwapDevice): void {
    const pfn = this.pfn[index];
    if (pfn >= 0 && mem.mapcount[pfn] === 0) {
      mem.freeFrame(pfn);
      this.pfn[index] = -1;
    }
    if (this.swap[index] !== 0) {
      swap.put(this.swap[index]);
      this.swap[index] = 0;
    }
  }

  /** The last mapping is gone: free everything. */
  release(mem: PageAlloc, swap: SwapDevice): void {
    for (let i = 0; i < this.nrPages; i++) this.dropPage(i, mem, swap);
  }
}
