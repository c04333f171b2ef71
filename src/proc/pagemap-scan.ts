/**
 * The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7), reduced to what a dumper asks of it:
 * where the next pages that may be present or swapped begin. Pages under an empty PMD or PUD entry
 * are neither, so a scan skips them a table at a time and its cost follows the page tables, not the
 * size of the mapping.
 */
import type { Task } from '../mm/kernel.js';

const PMD_PAGES = 512;
const PUD_PAGES = 512 * 512;

/** The first page in [start, end) under a populated PMD entry, or end. */
export function pagemapScanNext(task: Task, start: number, end: number): number {
  const pt = task.mm.pt;
  let vpn = start;
  while (vpn < end) {
    const pmd = pt.pmdSlot(vpn, false);
    if (pmd < 0) vpn = (Math.floor(vpn / PUD_PAGES) + 1) * PUD_PAGES;
    else if (pt.lo[pmd] === 0) vpn = (Math.floor(vpn / PMD_PAGES) + 1) * PMD_PAGES;
    else return vpn;
  }
  return end;
}
