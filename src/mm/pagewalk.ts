import type { Mm } from './mm.js';
import { _PAGE_PSE } from './pgtable-types.js';

/**
 * walk_page_range() over [start, end), one PMD-sized step at a time. `pmdEntry` sees a huge PMD
 * first and returns true when it dealt with it; otherwise, if the PMD is still huge it is left
 * alone, and if it now points to a pte table `pteRange` gets the table slot of `from`.
 */
export interface PageWalk {
  pmdEntry?(pmdSlot: number, from: number, to: number): boolean;
  pteRange?(slot: number, from: number, to: number): void;
  hole?(from: number, to: number): void;
}

const PUD_SPAN = 262144;

export function walkPageRange(mm: Mm, start: number, end: number, walk: PageWalk): void {
  const pt = mm.pt;
  let vpn = start;
  while (vpn < end) {
    const next = Math.min(end, (Math.floor(vpn / 512) + 1) * 512);
    const pmd = pt.pmdSlot(vpn, false);
    if (pmd < 0) {
      // No PMD table: skip to the next PUD boundary.
      const skip = Math.min(end, (Math.floor(vpn / PUD_SPAN) + 1) * PUD_SPAN);
      walk.hole?.(vpn, skip);
      vpn = skip;
      continue;
    }
    let e = pt.lo[pmd];
    if (e === 0) {
      walk.hole?.(vpn, next);
      vpn = next;
      continue;
    }
    if ((e & _PAGE_PSE) !== 0) {
      if (walk.pmdEntry !== undefined && walk.pmdEntry(pmd, vpn, next)) {
        vpn = next;
        continue;
      }
      e = pt.lo[pmd];
      if (e === 0) {
        walk.hole?.(vpn, next);
        vpn = next;
        continue;
      }
      if ((e & _PAGE_PSE) !== 0) {
        vpn = next;
        continue;
      }
    }
    walk.pteRange?.(((e >>> 12) << 9) | (vpn & 511), vpn, next);
    vpn = next;
  }
}
