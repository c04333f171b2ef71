/**
 * What the kernel can do, found out the way CRIU's kerndat does it, in a scratch process:
 *  - soft-dirty: map a page, clear_refs 4, write it, and see whether pagemap reports bit 55
 *    (PM_SOFT_DIRTY). A kernel built without CONFIG_MEM_SOFT_DIRTY accepts `clear_refs 4`
 *    silently and never sets the bit, so reporting zero dirty pages there would be a lie;
 *  - the zero page's PFN: read an untouched anonymous page and look at its pagemap PFN. A pre-dump
 *    skips pages mapped to it (CRIU's should_dump_page()), soft-dirty or not;
 *  - PAGEMAP_SCAN: the ioctl CRIU's check_pagemap() tries (ENOTTY or EINVAL: not there);
 *  - userfaultfd write-protection in async mode: userfaultfd() and UFFDIO_API with
 *    UFFD_FEATURE_WP_ASYNC (CRIU's kerndat has_wp_async).
 */
import type { Kernel } from '../mm/kernel.js';
import { mmap, munmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { UFFD_FEATURE_WP_ASYNC, userfaultfdApi, userfaultfdOpen, userfaultfdRelease } from '../mm/userfaultfd.js';
import { clearRefsWrite } from './clear-refs.js';
import { PAGE_IS_FILE, PAGE_IS_PFNZERO, PAGE_IS_PRESENT, PAGE_IS_SOFT_DIRTY, PAGE_IS_SWAPPED, pagemapScan } from './pagemap-scan.js';
import { PM_PRESENT_HI, PM_SOFT_DIRTY_HI, readPagemap, softDirtyPagemap, type PagemapFormat } from './pagemap.js';

export interface Kerndat {
  softDirty: boolean;
  /** The file soft-dirty is read from. */
  pagemapFormat: PagemapFormat;
  /** PFN of the shared zero page, or -1 if it could not be found. */
  zeroPagePfn: number;
  /** The PAGEMAP_SCAN ioctl answers (Linux 6.7+). */
  pagemapScan: boolean;
  /** userfaultfd accepts UFFD_FEATURE_WP_ASYNC (Linux 6.7+). */
  uffdWpAsync: boolean;
}

const probed = new WeakMap<Kernel, Kerndat>();

export function kerndat(kernel: Kernel): Kerndat {
  const known = probed.get(kernel);
  if (known !== undefined) return known;
  const task = kernel.spawn('kerndat');
  const mm = task.mm;
  const format = softDirtyPagemap(kernel.profile);
  const kd: Kerndat = { softDirty: false, pagemapFormat: format, zeroPagePfn: -1, pagemapScan: false, uffdWpAsync: false };
  const page = mmap(mm, { pages: 2, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  if (page >= 0) {
    const words = new Uint32Array(4);
    // Clear first, so a bit set by the new VMA (VM_SOFTDIRTY) cannot pass for the write's.
    clearRefsWrite(mm, '4');
    const wrote = mm.write8(page * PAGE_SIZE, 1) === 0;
    const read = mm.read8((page + 1) * PAGE_SIZE) >= 0;
    readPagemap(mm, page, 2, words, format);
    kd.softDirty = wrote && (words[1] & PM_SOFT_DIRTY_HI) !== 0;
    if (read && (words[3] & PM_PRESENT_HI) !== 0) kd.zeroPagePfn = words[2];
    // check_pagemap(): CRIU's own arguments; the ioctl either answers or is ENOTTY / EINVAL.
    const scan = pagemapScan(mm, {
      start: page,
      end: page + 2,
      vecLen: 0,
      vec: false,
      categoryInverted: PAGE_IS_PFNZERO | PAGE_IS_FILE,
      categoryMask: PAGE_IS_PFNZERO | PAGE_IS_FILE,
      categoryAnyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
      returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_SOFT_DIRTY,
    });
    kd.pagemapScan = scan.ret >= 0;
    munmap(mm, page, 2);
  }
  const ctx = userfaultfdOpen(mm);
  if (typeof ctx !== 'number') {
    kd.uffdWpAsync = userfaultfdApi(ctx, UFFD_FEATURE_WP_ASYNC) === 0;
    userfaultfdRelease(mm, ctx);
  }
  kernel.exit(task);
  probed.set(kernel, kd);
  return kd;
}

/** kerndat_soft_dirty(): does this kernel track soft-dirty pages? */
export function kerndatSoftDirty(kernel: Kernel): boolean {
  return kerndat(kernel).softDirty;
}
