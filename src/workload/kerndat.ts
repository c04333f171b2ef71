/**
 * What the kernel can do, found out the way CRIU's kerndat does it: map a page in a scratch
 * process, write it, and see whether pagemap reports bit 55 (PM_SOFT_DIRTY). A kernel built
 * without CONFIG_MEM_SOFT_DIRTY accepts `clear_refs 4` silently and never sets the bit, so
 * reporting zero dirty pages there would be a lie.
 */
import type { Kernel } from '../mm/kernel.js';
import { mmap, munmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { PM_SOFT_DIRTY_HI, readPagemap } from '../proc/pagemap.js';

const probed = new WeakMap<Kernel, boolean>();

/** kerndat_soft_dirty(): does this kernel track soft-dirty pages? (cached per kernel) */
export function kerndatSoftDirty(kernel: Kernel): boolean {
  const known = probed.get(kernel);
  if (known !== undefined) return known;
  const task = kernel.spawn('kerndat');
  const mm = task.mm;
  let ok = false;
  const page = mmap(mm, { pages: 1, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  if (page >= 0) {
    // Clear first, so a bit set by the new VMA (VM_SOFTDIRTY) cannot pass for the write's.
    clearRefsWrite(mm, '4');
    if (mm.write8(page * PAGE_SIZE, 1) === 0) {
      const words = new Uint32Array(2);
      readPagemap(mm, page, 1, words, kernel.profile.pagemap2 ? 'pagemap2' : 'pagemap');
      ok = (words[1] & PM_SOFT_DIRTY_HI) !== 0;
    }
    munmap(mm, page, 1);
  }
  kernel.exit(task);
  probed.set(kernel, ok);
  return ok;
}
