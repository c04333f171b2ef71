/**
 * The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7, fs/proc/task_mmu.c): pagemapScan() is the
 * ioctl as the kernel answers it; pagemapScanNext() is the question a dumper asks most: where the
 * next pages that may be present or swapped begin. Pages under an empty PMD or PUD entry
 * are neither, so a scan skips them a table at a time and its cost follows the page tables, not the
 * size of the mapping.
 */
import { EFAULT, EINVAL, ENOTTY, EPERM } from '../mm/errno.js';
import { splitHugePmd } from '../mm/huge-memory.js';
import type { Task } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { TASK_SIZE_VPN } from '../mm/mmap.js';
import { PG_anon } from '../mm/page-alloc.js';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_UFFD_WP,
  pte_swp_uffd_wp_any,
  pte_pfn,
} from '../mm/pgtable-types.js';
import { makeUffdWpPmd, makeUffdWpPte, uffdWpRange, userfaultfdWp, userfaultfdWpAsync, userfaultfdWpUseMarkers } from '../mm/userfaultfd.js';
import type { Vma } from '../mm/vma.js';

const ENOSPC = 28;

const PMD_PAGES = 512;
const PUD_PAGES = 512 * 512;

/** The first page in [start, end) under a populated PMD entry, or end. */
export function pagemapScanNext(task: Pick<Task, 'mm'>, start: number, end: number): number {
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

// ---- the PAGEMAP_SCAN ioctl (fs/proc/task_mmu.c, do_pagemap_scan()) ------------------------------

/** PAGE_IS_* categories (include/uapi/linux/fs.h). */
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
/** PAGE_IS_GUARD (6.14): not a category 6.12 accepts. */
export const PAGE_IS_GUARD = 1 << 8;
/** PM_SCAN_CATEGORIES of 6.12. */
export const PM_SCAN_CATEGORIES = 0xff;
export const PM_SCAN_WP_MATCHING = 1 << 0;
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
/** sizeof(struct pm_scan_arg) */
export const PM_SCAN_ARG_SIZE = 96;
/** PAGEMAP_WALK_SIZE >> PAGE_SHIFT: the bounce buffer holds at most this many regions. */
const BOUNCE_REGIONS = 512;

/** struct pm_scan_arg, with addresses as page numbers. */
export interface PmScanArg {
  size?: number;
  flags?: number;
  start: number;
  end: number;
  /** Whether `vec` is a real buffer (false passes NULL). */
  vec?: boolean;
  vecLen: number;
  /** 0: no limit. */
  maxPages?: number;
  categoryInverted?: number;
  categoryMask?: number;
  categoryAnyofMask?: number;
  returnMask: number;
}

/** struct page_region, in page numbers. */
export interface PageRegion {
  start: number;
  end: number;
  categories: number;
}

export interface PmScanResult {
  /** The ioctl's return value: regions written, or -errno. */
  ret: number;
  /** pm_scan_arg.walk_end as written back, or undefined when the kernel did not write it. */
  walkEnd?: number;
  /** The regions copied to the user's vector (also those copied before a failure). */
  regions: PageRegion[];
}

/** pagemap_scan_private */
class PagemapScan {
  readonly flags: number;
  readonly mask: number;
  readonly anyof: number;
  readonly inverted: number;
  readonly returnMask: number;
  readonly maxPages: number;
  readonly masksOfInterest: number;
  curVmaCategory = 0;
  /** The bounce buffer (vec_buf), or null without an output vector. */
  readonly buf: PageRegion[] | null;
  bufLen: number;
  bufIndex = 0;
  foundPages = 0;
  vecLen: number;
  walkEnd = 0;
  readonly out: PageRegion[] = [];

  constructor(
    readonly mm: Mm,
    arg: PmScanArg,
  ) {
    this.flags = arg.flags ?? 0;
    this.mask = arg.categoryMask ?? 0;
    this.anyof = arg.categoryAnyofMask ?? 0;
    this.inverted = arg.categoryInverted ?? 0;
    this.returnMask = arg.returnMask;
    this.maxPages = arg.maxPages === undefined || arg.maxPages === 0 ? Infinity : arg.maxPages;
    this.masksOfInterest = this.mask | this.anyof | this.returnMask;
    this.vecLen = arg.vecLen;
    // pagemap_scan_init_bounce_buffer()
    this.bufLen = Math.min(BOUNCE_REGIONS, arg.vecLen);
    this.buf = arg.vecLen > 0 ? [{ start: 0, end: 0, categories: 0 }] : null;
  }

  get wp(): boolean {
    return (this.flags & PM_SCAN_WP_MATCHING) !== 0;
  }

  /** pagemap_scan_is_interesting_page() */
  interesting(categories: number): boolean {
    const c = categories ^ this.inverted;
    if ((c & this.mask) !== this.mask) return false;
    return this.anyof === 0 || (c & this.anyof) !== 0;
  }

  /** pagemap_scan_push_range() */
  private push(categories: number, addr: number, end: number): boolean {
    const buf = this.buf!;
    let cur = buf[this.bufIndex];
    if (addr === cur.end && categories === cur.categories) {
      cur.end = end;
      return true;
    }
    if (cur.end !== 0) {
      if (this.bufIndex >= this.bufLen - 1) return false;
      cur = buf[++this.bufIndex] = { start: 0, end: 0, categories: 0 };
    }
    cur.start = addr;
    cur.end = end;
    cur.categories = categories;
    return true;
  }

  /** pagemap_scan_output(): report [addr, end); returns -ENOSPC or 0 and sets `this.end`. */
  end = 0;
  output(categories: number, addr: number, end: number): number {
    this.end = end;
    if (this.buf === null) return 0;
    categories &= this.returnMask;
    let n = end - addr;
    let ret = 0;
    if (this.foundPages + n > this.maxPages) {
      const tooMuch = this.foundPages + n - this.maxPages;
      end -= tooMuch;
      n -= tooMuch;
      ret = -ENOSPC;
    }
    if (!this.push(categories, addr, end)) {
      end = addr;
      n = 0;
      ret = -ENOSPC;
    }
    this.foundPages += n;
    if (ret !== 0) this.walkEnd = end;
    this.end = end;
    return ret;
  }

  /** pagemap_scan_backout_range(): a THP reported whole is split and reported again per pte. */
  backout(addr: number, end: number): void {
    if (this.buf === null) return;
    const cur = this.buf[this.bufIndex];
    if (cur.start !== addr) cur.end = addr;
    else cur.start = cur.end = 0;
    this.foundPages -= end - addr;
  }

  /** pagemap_scan_flush_buffer() */
  flush(): number {
    const buf = this.buf;
    if (buf === null) return 0;
    let n = this.bufIndex;
    if (buf[n].end !== buf[n].start) n++;
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) this.out.push(buf[i]);
    this.vecLen -= n;
    this.bufIndex = 0;
    this.bufLen = Math.min(this.bufLen, this.vecLen);
    buf.length = 1;
    buf[0] = { start: 0, end: 0, categories: 0 };
    return n;
  }
}

/** The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (do_pagemap_scan()). */
export function pagemapScan(mm: Mm, arg: PmScanArg): PmScanResult {
  // No ->unlocked_ioctl before 6.7: vfs_ioctl() says ENOTTY.
  if (!mm.profile.pagemapScan) return { ret: -ENOTTY, regions: [] };
  // pagemap_scan_get_args()
  if ((arg.size ?? PM_SCAN_ARG_SIZE) !== PM_SCAN_ARG_SIZE) return { ret: -EINVAL, regions: [] };
  if (((arg.flags ?? 0) & ~PM_SCAN_FLAGS) !== 0) return { ret: -EINVAL, regions: [] };
  const masks = (arg.categoryInverted ?? 0) | (arg.categoryMask ?? 0) | (arg.categoryAnyofMask ?? 0) | arg.returnMask;
  if ((masks & ~PM_SCAN_CATEGORIES) !== 0) return { ret: -EINVAL, regions: [] };
  if (arg.end < arg.start || arg.end > TASK_SIZE_VPN) return { ret: -EFAULT, regions: [] };
  if (arg.vec === false && arg.vecLen > 0) return { ret: -EINVAL, regions: [] };
  const p = new PagemapScan(mm, arg);
  let ret = 0;
  let nOut = 0;
  for (let walkStart = arg.start; walkStart < arg.end; walkStart = p.walkEnd) {
    ret = walkPageRangeScan(p, walkStart, arg.end);
    nOut += p.flush();
    if (ret !== -ENOSPC) break;
    if (p.vecLen === 0 || p.foundPages === p.maxPages) break;
  }
  if (ret === 0 || ret === -ENOSPC) ret = nOut;
  // "The walk_end isn't set when ret is zero"
  if (p.walkEnd === 0) p.walkEnd = arg.end;
  mm.flushTlb();
  return { ret, walkEnd: p.walkEnd, regions: p.out };
}

/** walk_page_range() with pagemap_scan_ops. */
function walkPageRangeScan(p: PagemapScan, start: number, end: number): number {
  const mm = p.mm;
  let vi = mm.vmaIndexFrom(start);
  let cur = start;
  while (cur < end) {
    const vma = vi < mm.vmas.length ? mm.vmas[vi] : null;
    // Outside any VMA: pagemap_scan_pte_hole() without a vma reports nothing.
    if (vma === null) return 0;
    if (cur < vma.start) {
      cur = Math.min(end, vma.start);
      continue;
    }
    const next = Math.min(end, vma.end);
    vi++;
    const t = testWalk(p, vma);
    if (t < 0) return t;
    if (t === 0) {
      const err = walkVmaRange(p, vma, cur, next);
      if (err !== 0) return err;
    }
    cur = next;
  }
  return 0;
}

/** pagemap_scan_test_walk(): 1 skips the VMA, <0 fails the walk. */
function testWalk(p: PagemapScan, vma: Vma): number {
  const wpAllowed = userfaultfdWpAsync(vma) && userfaultfdWpUseMarkers(vma);
  if (!wpAllowed) {
    // "User requested explicit failure over wp-async capability"
    if ((p.flags & PM_SCAN_CHECK_WPASYNC) !== 0) return -EPERM;
    // "User requires wr-protect, and allows silently skipping unsupported vmas."
    if (p.wp) return 1;
  }
  let category = wpAllowed ? PAGE_IS_WPALLOWED : 0;
  if ((vma.flags & p.mm.vmSoftDirty) !== 0) category |= PAGE_IS_SOFT_DIRTY;
  // pagemap_scan_is_interesting_vma()
  const required = p.mask & PAGE_IS_WPALLOWED;
  if (((category ^ p.inverted) & required) !== required) return 1;
  p.curVmaCategory = category;
  return 0;
}

/** The pmd-level walk of one VMA's [start, end): holes, huge PMDs, pte tables. */
function walkVmaRange(p: PagemapScan, vma: Vma, start: number, end: number): number {
  const pt = p.mm.pt;
  for (let vpn = start; vpn < end; ) {
    const next = Math.min(end, (Math.floor(vpn / 512) + 1) * 512);
    const pmd = pt.pmdSlot(vpn, false);
    let e = pmd < 0 ? 0 : pt.lo[pmd];
    let ret = 0;
    if (e === 0) ret = pteHole(p, vma, vpn, next);
    else {
      if ((e & _PAGE_PSE) !== 0) ret = thpEntry(p, vma, pmd, vpn, next);
      e = pt.lo[pmd];
      if ((e & _PAGE_PSE) === 0) ret = pteRange(p, vma, pt.pteTable(pmd, false), vpn, next);
    }
    if (ret !== 0) return ret;
    vpn = next;
  }
  return 0;
}

/**
 * pagemap_scan_pte_hole(): a range without a pte table. In a uffd-wp VMA it reads as written
 * ("fix PAGEMAP_SCAN written state for PMD holes"), and PM_SCAN_WP_MATCHING protects it with
 * markers (uffd_wp_range() allocates the table).
 */
function pteHole(p: PagemapScan, vma: Vma, addr: number, end: number): number {
  let categories = p.curVmaCategory;
  if (userfaultfdWp(vma)) categories |= PAGE_IS_WRITTEN;
  if (!p.interesting(categories)) return 0;
  const ret = p.output(categories, addr, end);
  if (p.end === addr || !p.wp) return ret;
  uffdWpRange(p.mm, vma, addr, p.end, true);
  return ret;
}

/** pagemap_thp_category() */
function thpCategory(p: PagemapScan, e: number, h: number): number {
  const mem = p.mm.mem;
  const head = pte_pfn(e, h);
  let c = PAGE_IS_HUGE | PAGE_IS_PRESENT;
  if ((e & _PAGE_UFFD_WP) === 0) c |= PAGE_IS_WRITTEN;
  if (mem.isZero(head)) c |= PAGE_IS_PFNZERO;
  else if ((p.masksOfInterest & PAGE_IS_FILE) !== 0 && (mem.flags[head] & PG_anon) === 0) c |= PAGE_IS_FILE;
  if ((e & _PAGE_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
  return c;
}

/**
 * pagemap_scan_thp_entry(): a huge PMD is one region; write-protecting only part of it splits it,
 * backs the region out and reports it again per pte ("Report as if there was no THP").
 */
function thpEntry(p: PagemapScan, vma: Vma, pmd: number, start: number, end: number): number {
  const mm = p.mm;
  const e = mm.pt.lo[pmd];
  const categories = p.curVmaCategory | thpCategory(p, e, mm.pt.hi[pmd]);
  if (!p.interesting(categories)) return 0;
  const ret = p.output(categories, start, end);
  const to = p.end;
  if (to === start || !p.wp || (categories & PAGE_IS_WRITTEN) === 0) return ret;
  if (to !== start + 512) {
    splitHugePmd(mm, pmd);
    p.backout(start, to);
    return 0;
  }
  makeUffdWpPmd(mm, pmd);
  void vma;
  return ret;
}

/** pagemap_page_category() for one pte. */
function pageCategory(p: PagemapScan, e: number, h: number): number {
  const mem = p.mm.mem;
  if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
    let c = PAGE_IS_PRESENT;
    if ((e & _PAGE_UFFD_WP) === 0) c |= PAGE_IS_WRITTEN;
    const pfn = e >>> 12;
    // vm_normal_page() is NULL for the zero page (pte_special).
    if ((p.masksOfInterest & PAGE_IS_FILE) !== 0 && (e & _PAGE_SPECIAL) === 0 && (mem.flags[pfn] & PG_anon) === 0) c |= PAGE_IS_FILE;
    if ((e & _PAGE_SPECIAL) !== 0 && mem.isZero(pfn)) c |= PAGE_IS_PFNZERO;
    if ((e & _PAGE_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
    return c;
  }
  // An empty pte reads as written: nothing protects it.
  if (e === 0 && h === 0) return PAGE_IS_WRITTEN;
  let c = PAGE_IS_SWAPPED;
  if (!pte_swp_uffd_wp_any(e, h)) c |= PAGE_IS_WRITTEN;
  if (p.mm.profile.swapSoftDirty && (e & _PAGE_SWP_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
  return c;
}

function pteProtected(e: number, h: number): boolean {
  return ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0 && (e & _PAGE_UFFD_WP) !== 0) || pte_swp_uffd_wp_any(e, h);
}

/** pagemap_scan_pmd_entry() over a pte table. */
function pteRange(p: PagemapScan, vma: Vma, base: number, start: number, end: number): number {
  const mm = p.mm;
  const lo = mm.pt.lo;
  const hi = mm.pt.hi;
  if (p.wp && p.buf === null) {
    // "Fast path for performing exclusive WP"
    for (let addr = start; addr < end; addr++) {
      const s = base | (addr & 511);
      if (!pteProtected(lo[s], hi[s])) makeUffdWpPte(mm, s);
    }
    return 0;
  }
  let ret = 0;
  if (p.anyof === 0 && p.inverted === 0 && p.mask === PAGE_IS_WRITTEN && p.returnMask === PAGE_IS_WRITTEN) {
    for (let addr = start; addr < end; addr++) {
      const s = base | (addr & 511);
      if (pteProtected(lo[s], hi[s])) continue;
      ret = p.output(p.curVmaCategory | PAGE_IS_WRITTEN, addr, addr + 1);
      if (p.end === addr) break;
      if (p.wp) makeUffdWpPte(mm, s);
    }
    return ret;
  }
  for (let addr = start; addr < end; addr++) {
    const s = base | (addr & 511);
    const categories = p.curVmaCategory | pageCategory(p, lo[s], hi[s]);
    if (!p.interesting(categories)) continue;
    ret = p.output(categories, addr, addr + 1);
    if (p.end === addr) break;
    if (!p.wp || (categories & PAGE_IS_WRITTEN) === 0) continue;
    makeUffdWpPte(mm, s);
  }
  void vma;
  return ret;
}
