/** /proc/PID/clear_refs (fs/proc/task_mmu.c clear_refs_write). */
import { EINVAL, ERANGE } from '../mm/errno.js';
import { splitHugePage, splitHugePmd } from '../mm/huge-memory.js';
import type { Mm } from '../mm/mm.js';
import { walkPageRange } from '../mm/pagewalk.js';
import { _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, _PAGE_SOFT_DIRTY, _PAGE_SWP_SOFT_DIRTY } from '../mm/pgtable-types.js';
import { VM_SOFTDIRTY } from '../mm/vma.js';

export const CLEAR_REFS_ALL = 1;
export const CLEAR_REFS_ANON = 2;
export const CLEAR_REFS_MAPPED = 3;
export const CLEAR_REFS_SOFT_DIRTY = 4;
export const CLEAR_REFS_MM_HIWATER_RSS = 5;

/** PROC_NUMBUF: the kernel copies at most 12 bytes of what is written. */
const PROC_NUMBUF = 13;
const INT_MAX = 2147483647;
const INT_MIN = -2147483648;

/** strstrip(): isspace() is space, \t, \n, \v, \f, \r. */
function strstrip(s: string): string {
  return s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
}

/** kstrtoint(s, 10): a value, or -EINVAL / -ERANGE. Returned as { value } or { errno }. */
export function kstrtoint(s: string): { value: number } | { errno: number } {
  let i = 0;
  let negative = false;
  if (s[i] === '+') i++;
  else if (s[i] === '-') {
    negative = true;
    i++;
  }
  let digits = 0;
  let v = 0n;
  let overflow = false;
  while (i < s.length && s[i] >= '0' && s[i] <= '9') {
    v = v * 10n + BigInt(s.charCodeAt(i) - 48);
    if (v > 0xffffffffffffffffn) overflow = true;
    digits++;
    i++;
  }
  if (i < s.length && s[i] === '\n') i++;
  if (digits === 0 || i !== s.length) return { errno: EINVAL };
  if (overflow) return { errno: ERANGE };
  const n = negative ? -v : v;
  if (n > BigInt(INT_MAX) || n < BigInt(INT_MIN)) return { errno: ERANGE };
  return { value: Number(n) };
}

/**
 * Write `data` to clear_refs. Returns 0 or a positive errno. Value 4 write-protects every present
 * pte and clears its soft-dirty bit, clears the soft-dirty bit of swap ptes, and (6.1) clears
 * VM_SOFTDIRTY on every VMA; 1-3 only age pages, 5 resets the RSS high-water mark.
 */
export function clearRefsWrite(mm: Mm, data: string): number {
  const buffer = Buffer.from(data, 'latin1').subarray(0, PROC_NUMBUF - 1).toString('latin1');
  const parsed = kstrtoint(strstrip(buffer.split('\0')[0]));
  if ('errno' in parsed) return parsed.errno;
  const type = parsed.value;
  if (type < CLEAR_REFS_ALL || type > mm.profile.clearRefsMax) return EINVAL;
  if (type === CLEAR_REFS_MM_HIWATER_RSS) return 0;
  if (type === CLEAR_REFS_SOFT_DIRTY) {
    // Without CONFIG_MEM_SOFT_DIRTY the value is accepted and the stubs do nothing.
    if (mm.profile.softDirty) clearSoftDirty(mm);
    return 0;
  }
  for (const vma of mm.vmas) {
    if (type === CLEAR_REFS_ANON && vma.file !== null) continue;
    if (type === CLEAR_REFS_MAPPED && vma.file === null) continue;
    walkPageRange(mm, vma.start, vma.end, {
      pmdEntry(pmd) {
        mm.pt.lo[pmd] &= ~_PAGE_ACCESSED;
        return true;
      },
      pteRange(slot, from, to) {
        const lo = mm.pt.lo;
        for (let i = 0; i < to - from; i++) if ((lo[slot + i] & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) lo[slot + i] &= ~_PAGE_ACCESSED;
      },
    });
  }
  mm.flushTlb();
  return 0;
}

function clearSoftDirty(mm: Mm): void {
  const vmSd = mm.vmSoftDirty;
  for (const vma of mm.vmas) vma.flags &= ~VM_SOFTDIRTY;
  void vmSd;
  const splitThp = mm.profile.clearRefsSplitsThp;
  const swpMask = mm.profile.swapSoftDirty ? ~_PAGE_SWP_SOFT_DIRTY : -1;
  const clearPresent = ~(_PAGE_RW | _PAGE_SOFT_DIRTY);
  for (const vma of mm.vmas) {
    walkPageRange(mm, vma.start, vma.end, {
      pmdEntry(pmd) {
        if (splitThp) {
          // The 2013 patch split THPs before clearing (split_huge_page_pmd).
          const head = (mm.pt.lo[pmd] >>> 12) | (mm.pt.hi[pmd] << 20);
          splitHugePmd(mm, pmd);
          if (!mm.mem.isZero(head) && mm.mem.compound[head] === 0) splitHugePage(mm, head);
          return false;
        }
        // clear_soft_dirty_pmd(): write-protect and clear, per PMD.
        mm.pt.lo[pmd] &= clearPresent;
        return true;
      },
      pteRange(slot, from, to) {
        const lo = mm.pt.lo;
        const hi = mm.pt.hi;
        const n = to - from;
        for (let i = 0; i < n; i++) {
          const e = lo[slot + i];
          if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) lo[slot + i] = e & clearPresent;
          else if (e !== 0 || hi[slot + i] !== 0) lo[slot + i] = e & swpMask;
        }
      },
    });
  }
  mm.flushTlb();
}
