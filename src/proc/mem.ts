/**
 * /proc/PID/mem as a dumper needs it: the contents of one page, read without side effects (a
 * swapped page is read from the swap device, not faulted in), and a digest of the whole memory.
 */
import { createHash } from 'node:crypto';
import type { Mm } from '../mm/mm.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, PAGE_SIZE, swp_offset } from '../mm/pgtable-types.js';
import type { Vma } from '../mm/vma.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** The bytes a load from page vpn would see, as a view (do not modify). */
export function accessPage(mm: Mm, vma: Vma, vpn: number): Uint8Array {
  const pmd = mm.pt.pmdSlot(vpn, false);
  if (pmd >= 0) {
    const pe = mm.pt.lo[pmd];
    if ((pe & _PAGE_PSE) !== 0) return mm.mem.frame((pe >>> 12) + (vpn & 511));
    if (pe !== 0) {
      const s = ((pe >>> 12) << 9) | (vpn & 511);
      const e = mm.pt.lo[s];
      const h = mm.pt.hi[s];
      if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) return mm.mem.frame(e >>> 12);
      if (e !== 0 || h !== 0) return mm.swap.read(swp_offset(e, h));
    }
  }
  if (vma.file === null) return ZERO_PAGE;
  const index = vma.fileIndex(vpn);
  const file = vma.file;
  if (index >= file.nrPages) return ZERO_PAGE;
  if (file.pfn[index] >= 0) return mm.mem.frame(file.pfn[index]);
  if (file.swap[index] !== 0) return mm.swap.read(file.swap[index]);
  if (!file.pattern) return ZERO_PAGE;
  return new Uint8Array(PAGE_SIZE).fill(file.patternByte(index));
}

/**
 * SHA-256 over the layout and every page of every VMA. The layout is taken as runs of equal
 * protection (read, write, exec, shared), so a restore whose VMAs merge differently (anon_vma and
 * pgoff are not restored) still digests the same when the memory is the same.
 */
export function memoryDigest(mm: Mm): string {
  const h = createHash('sha256');
  const runs: number[][] = [];
  for (const vma of mm.vmas) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === vma.start && last[2] === (vma.flags & 0xf)) last[1] = vma.end;
    else runs.push([vma.start, vma.end, vma.flags & 0xf]);
  }
  h.update(new Uint8Array(new Float64Array(runs.flat()).buffer));
  for (const vma of mm.vmas) for (let v = vma.start; v < vma.end; v++) h.update(accessPage(mm, vma, v));
  return h.digest('hex');
}
