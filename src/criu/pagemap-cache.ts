/**
 * CRIU's pagemap-cache.c: pagemap read through a window of at most 2 MiB of address space (512
 * entries), never a buffer sized by a VMA. Stretches the page tables do not cover are skipped
 * with PAGEMAP_SCAN before anything is read, so the cost follows what is mapped in, not the size of
 * the mapping.
 */
import type { Task } from '../mm/kernel.js';
import { pagemapScanNext } from '../proc/pagemap-scan.js';
import { readPagemap, type PagemapFormat } from '../proc/pagemap.js';

/** Pages of address space one window covers (PMC_SIZE / PAGE_SIZE). */
export const PMC_PAGES = 512;

export class PagemapCache {
  /** Entries of the window: words[2i], words[2i+1] are the low and high halves of page start+i. */
  readonly words = new Uint32Array(PMC_PAGES * 2);
  start = 0;
  count = 0;

  constructor(
    private readonly task: Task,
    private readonly format: PagemapFormat,
  ) {}

  /**
   * Fill the window with the next populated stretch of [from, end), up to the next 2 MiB boundary.
   * Returns false when nothing in [from, end) is populated.
   */
  fill(from: number, end: number): boolean {
    const at = pagemapScanNext(this.task, from, end);
    if (at >= end) return false;
    const to = Math.min(end, (Math.floor(at / PMC_PAGES) + 1) * PMC_PAGES);
    this.start = at;
    this.count = to - at;
    readPagemap(this.task.mm, at, this.count, this.words, this.format);
    return true;
  }
}
