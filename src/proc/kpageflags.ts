/** /proc/kpageflags (fs/proc/page.c stable_page_flags), the bits tracker's observations use. */
import type { PageAlloc } from '../mm/page-alloc.js';
import { PG_anon, PG_thp, PG_zero } from '../mm/page-alloc.js';

export const KPF_ANON = 12;
export const KPF_THP = 22;
export const KPF_ZERO_PAGE = 24;

/** The flags of a PFN as a number (the bits used here are all below 32). */
export function kpageflags(mem: PageAlloc, pfn: number): number {
  if (pfn < 0 || pfn >= mem.maxFrames) return 0;
  const f = mem.flags[pfn];
  let u = 0;
  if ((f & PG_zero) !== 0) u |= 1 << KPF_ZERO_PAGE;
  if ((f & PG_thp) !== 0) u |= 1 << KPF_THP;
  if ((f & PG_anon) !== 0) u |= 1 << KPF_ANON;
  return u;
}
