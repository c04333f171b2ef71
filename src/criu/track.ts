/**
 * How an iteration finds the pages to copy: the memory-tracking backends a dumper can use on
 * Linux, each through the kernel interface it really uses.
 *
 *   soft-dirty    clear_refs 4, then bit 55 of /proc/PID/pagemap read (CRIU's pagemap-cache
 *                 before 4.0, and always on kernels without PAGEMAP_SCAN)
 *   pagemap-scan  clear_refs 4, then soft-dirty read through the PAGEMAP_SCAN ioctl as CRIU 4.0's
 *                 pmc_fill() asks it: present or swapped, not the zero page, not page cache; it
 *                 returns runs, not one entry per page (criu/pagemap-cache.c, criu/mem.c)
 *   uffd-wp       the dumper's userfaultfd (WP_ASYNC) registers every private VMA; PAGEMAP_SCAN with
 *                 PM_SCAN_WP_MATCHING reports PAGE_IS_WRITTEN and write-protects again in one
 *                 ioctl. VMA merges and splits do not disturb it, unlike VM_SOFTDIRTY
 *   mincore       every resident page, every time: sparse, not differential (Firecracker's
 *                 snapshots without dirty tracking)
 *   none          every present or swapped page, every time (a full dump)
 */
import type { Kernel, Task } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { mincore } from '../mm/mincore.js';
import {
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  userfaultfdApi,
  userfaultfdOpen,
  userfaultfdRegister,
  userfaultfdWp,
  type UserfaultfdCtx,
} from '../mm/userfaultfd.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { kerndat } from '../proc/kerndat.js';
import type { PagemapFormat } from '../proc/pagemap.js';
import {
  PAGE_IS_FILE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SOFT_DIRTY,
  PAGE_IS_SWAPPED,
  PAGE_IS_WRITTEN,
  pagemapScan,
  PM_SCAN_WP_MATCHING,
  type PageRegion,
} from '../proc/pagemap-scan.js';
import type { MapsEntry } from '../proc/vma-list.js';
import type { ProcessHandle } from '../task/process.js';
import { PagePipe } from './page-pipe.js';
import { PagemapCache } from './pagemap-cache.js';
import { pageInParent, pageIsZero, shouldDumpPage } from './should-dump-page.js';

export const TRACK_BACKENDS = ['soft-dirty', 'pagemap-scan', 'uffd-wp', 'mincore', 'none'] as const;
export type TrackBackend = (typeof TRACK_BACKENDS)[number];

export function isTrackBackend(s: string): s is TrackBackend {
  return (TRACK_BACKENDS as readonly string[]).includes(s);
}

export interface CollectedPages {
  pipe: PagePipe;
  /** Every page of the private VMAs, as CRIU's stats count pages_scanned. */
  scanned: number;
  /** Present pages mapped to the zero page (not dumped). */
  zero: number;
  /** Pagemap entries actually read: PAGEMAP_SCAN skips what no page table covers. */
  read: number;
}

/** Read pagemap over the private VMAs and collect what this iteration dumps into a page-pipe. */
/** soft-dirty through pagemap (and `none`, never incremental): read pagemap over the private VMAs. */
export function collectPages(proc: ProcessHandle, maps: MapsEntry[], format: PagemapFormat, incremental: boolean, zeroPagePfn: number): CollectedPages {
  const pipe = new PagePipe();
  const pmc = new PagemapCache(proc.task, format);
  const words = pmc.words;
  let scanned = 0;
  let zero = 0;
  let read = 0;
  for (const vma of maps) {
    if (vma.kind === 'shared') continue; // dumped by object, as CRIU dumps shmem apart
    scanned += vma.end - vma.start;
    const privateFile = vma.kind === 'file';
    for (let at = vma.start; pmc.fill(at, vma.end); at = pmc.start + pmc.count) {
      const first = pmc.start;
      read += pmc.count;
      for (let i = 0; i < pmc.count; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        if (!shouldDumpPage(lo, hi, privateFile, zeroPagePfn)) {
          if (pageIsZero(lo, hi, zeroPagePfn)) zero++;
          continue;
        }
        if (pageInParent(hi, incremental)) pipe.addHole(first + i);
        else pipe.addPage(first + i);
      }
    }
  }
  return { pipe, scanned, zero, read };
}

/** One line each: what the backend reads, for --help and the README. */
export const TRACK_MECHANISMS: Readonly<Record<TrackBackend, string>> = {
  'soft-dirty': 'clear_refs 4 + pagemap bit 55, one entry per page',
  'pagemap-scan': 'clear_refs 4 + PAGEMAP_SCAN runs (CRIU 4.0 pmc_fill)',
  'uffd-wp': 'userfaultfd WP_ASYNC + PAGEMAP_SCAN PAGE_IS_WRITTEN, re-protected by PM_SCAN_WP_MATCHING',
  mincore: 'mincore(2): every resident page, each time',
  none: 'every present or swapped page, each time',
};

/** Iterations after the first leave pages the backend saw unchanged to the parent. */
export function trackIncremental(backend: TrackBackend): boolean {
  return backend === 'soft-dirty' || backend === 'pagemap-scan' || backend === 'uffd-wp';
}

/**
 * kerndat-style detection: why this kernel cannot track with `backend`, as one sentence, or null.
 * The probes run in a scratch process (src/proc/kerndat.ts).
 */
export function trackUnsupported(kernel: Kernel, backend: TrackBackend): string | null {
  const kd = kerndat(kernel);
  const name = kernel.profile.name;
  switch (backend) {
    case 'soft-dirty':
      return kd.softDirty ? null : `kernel profile '${name}' has no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)`;
    case 'pagemap-scan':
      if (!kd.pagemapScan) return `kernel profile '${name}' has no PAGEMAP_SCAN ioctl (Linux 6.7+; this one answers ENOTTY)`;
      return kd.softDirty ? null : `kernel profile '${name}' has no soft-dirty tracking for PAGEMAP_SCAN to read`;
    case 'uffd-wp':
      if (!kd.uffdWpAsync) return `kernel profile '${name}' has no userfaultfd UFFD_FEATURE_WP_ASYNC (Linux 6.7+; UFFDIO_API says EINVAL)`;
      return kd.pagemapScan ? null : `kernel profile '${name}' has no PAGEMAP_SCAN ioctl to read PAGE_IS_WRITTEN`;
    default:
      return null;
  }
}

/** The dumper's userfaultfd in each tracked task (CRIU opens /proc/PID/userfaultfd, Linux 6.11+). */
const trackers = new WeakMap<Task, UserfaultfdCtx>();

/** The dumper's uffd for `task`, opened with WP_ASYNC (which brings WP_UNPOPULATED) on first use. */
function trackerCtx(proc: ProcessHandle): UserfaultfdCtx {
  let ctx = trackers.get(proc.task);
  if (ctx === undefined) {
    const c = userfaultfdOpen(proc.task.mm);
    if (typeof c === 'number' || userfaultfdApi(c, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED) < 0) {
      throw new Error(`userfaultfd WP_ASYNC is not available on kernel profile '${proc.kernel.profile.name}'`);
    }
    ctx = c;
    trackers.set(proc.task, ctx);
  }
  return ctx;
}

/** PAGE_REGIONS_MAX_NR: CRIU's largest region vector. */
const PAGE_REGIONS_MAX_NR = 32768;

/**
 * One VMA through PAGEMAP_SCAN, as CRIU's generate_iovs() walks it with should_dump_page(): a
 * window per pmc_fill() ending at walk_end, regions consumed in order. `scanned` counts loop
 * iterations as CRIU's pages_scanned does: one per page dumped or left to the parent, and one per
 * jump over pages the scan did not report.
 */
function scanVma(mm: Mm, vma: MapsEntry, vecLen: number, wp: boolean, returnMask: number, page: (vpn: number, categories: number) => void): { scanned: number; regions: number } {
  // do_pagemap_scan() leaves walk_end at its last early stop even when it then walked on to the
  // end (recorded: test/oracle/mechanisms/u16-bounce.ops). CRIU's pmc_fill() takes walk_end as it
  // is, and only reads the same pages again; a scan that write-protects must not: the pages
  // between would come back clean. So with PM_SCAN_WP_MATCHING, a vector not filled means the
  // walk reached the end.
  let scanned = 0;
  let nRegions = 0;
  let regions: PageRegion[] = [];
  let idx = 0;
  let pmcEnd = vma.start;
  const fill = (from: number): void => {
    const r = pagemapScan(mm, {
      flags: wp ? PM_SCAN_WP_MATCHING : 0,
      start: from,
      end: vma.end,
      vec: true,
      vecLen,
      // "Request pages that are in RAM or swap, excluding zero-filled and file-backed pages."
      categoryInverted: PAGE_IS_PFNZERO | PAGE_IS_FILE,
      categoryMask: PAGE_IS_PFNZERO | PAGE_IS_FILE,
      categoryAnyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
      returnMask,
    });
    if (r.ret < 0) throw new Error(`PAGEMAP_SCAN failed with errno ${-r.ret}`);
    regions = r.regions;
    nRegions += regions.length;
    idx = 0;
    pmcEnd = wp && r.ret < vecLen ? vma.end : (r.walkEnd ?? vma.end);
  };
  for (let vaddr = vma.start; vaddr < vma.end; ) {
    if (vaddr >= pmcEnd) fill(vaddr);
    while (idx < regions.length && vaddr >= regions[idx].end) idx++;
    const next = idx === regions.length ? pmcEnd : vaddr < regions[idx].start ? regions[idx].start : vaddr;
    scanned++;
    if (next !== vaddr) {
      vaddr = next;
      continue;
    }
    page(vaddr, regions[idx].categories);
    vaddr++;
  }
  return { scanned, regions: nRegions };
}

function regionsVecLen(maps: MapsEntry[]): number {
  let longest = 0;
  for (const v of maps) longest = Math.max(longest, v.end - v.start);
  return Math.min(Math.max(longest, 512), PAGE_REGIONS_MAX_NR);
}

/** The pages of one iteration, by backend. `incremental`: there is a parent to leave pages to. */
export function collectTracked(proc: ProcessHandle, maps: MapsEntry[], backend: TrackBackend, incremental: boolean, format: PagemapFormat, zeroPagePfn: number): CollectedPages {
  const mm = proc.task.mm;
  switch (backend) {
    case 'soft-dirty':
      return collectPages(proc, maps, format, incremental, zeroPagePfn);
    case 'none':
      return collectPages(proc, maps, format, false, zeroPagePfn);
    case 'pagemap-scan': {
      const pipe = new PagePipe();
      const vecLen = regionsVecLen(maps);
      let scanned = 0;
      let read = 0;
      for (const vma of maps) {
        if (vma.kind === 'shared') continue;
        const r = scanVma(mm, vma, vecLen, false, PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_SOFT_DIRTY, (vpn, c) => {
          if (incremental && (c & PAGE_IS_SOFT_DIRTY) === 0) pipe.addHole(vpn);
          else pipe.addPage(vpn);
        });
        scanned += r.scanned;
        read += r.regions;
      }
      return { pipe, scanned, zero: 0, read };
    }
    case 'uffd-wp': {
      const ctx = trackerCtx(proc);
      // Register what is not yet registered: new VMAs, and VMAs a move unregistered.
      for (const v of maps) {
        if (v.kind === 'shared') continue;
        const vma = mm.findVma(v.start);
        if (vma !== null && (!userfaultfdWp(vma) || vma.uffdCtx !== ctx)) userfaultfdRegister(mm, ctx, v.start, v.end - v.start);
      }
      const pipe = new PagePipe();
      const now = mapsOf(mm);
      const vecLen = regionsVecLen(now);
      let scanned = 0;
      let read = 0;
      for (const vma of now) {
        if (vma.kind === 'shared') continue;
        const r = scanVma(mm, vma, vecLen, true, PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN, (vpn, c) => {
          if (incremental && (c & PAGE_IS_WRITTEN) === 0) pipe.addHole(vpn);
          else pipe.addPage(vpn);
        });
        scanned += r.scanned;
        read += r.regions;
      }
      return { pipe, scanned, zero: 0, read };
    }
    case 'mincore': {
      const pipe = new PagePipe();
      let scanned = 0;
      let zero = 0;
      const vec = new Uint8Array(512);
      for (const vma of maps) {
        if (vma.kind === 'shared') continue;
        scanned += vma.end - vma.start;
        for (let at = vma.start; at < vma.end; at += 512) {
          const n = Math.min(512, vma.end - at);
          mincore(mm, at, n, vec);
          for (let i = 0; i < n; i++) {
            if (vec[i] === 0) continue;
            if (mm.framePfn(at + i) === mm.mem.zeroPfn) zero++;
            pipe.addPage(at + i);
          }
        }
      }
      return { pipe, scanned, zero, read: scanned };
    }
  }
}

/** The VMA list after registration may have split or merged VMAs. */
function mapsOf(mm: Mm): MapsEntry[] {
  return mm.vmas.map((v) => ({ start: v.start, end: v.end, flags: v.flags, kind: v.kind, pgoff: v.pgoff, file: null, shmemId: -1 }));
}

/** After the pages are collected: the soft-dirty backends clear (uffd-wp re-protected while scanning). */
export function resetTracking(proc: ProcessHandle, backend: TrackBackend): void {
  if (backend === 'soft-dirty' || backend === 'pagemap-scan') clearRefsWrite(proc.task.mm, '4');
}

/** What the next iteration would copy, read without side effects (for the policies' estimates). */
export function pendingPages(proc: ProcessHandle, backend: TrackBackend, format: PagemapFormat, zeroPagePfn: number, maps: MapsEntry[]): number {
  const mm = proc.task.mm;
  if (backend === 'uffd-wp') {
    let n = 0;
    const vecLen = regionsVecLen(maps);
    for (const vma of maps) {
      if (vma.kind === 'shared') continue;
      scanVma(mm, vma, vecLen, false, PAGE_IS_WRITTEN, (_v, c) => {
        if ((c & PAGE_IS_WRITTEN) !== 0) n++;
      });
    }
    return n;
  }
  const c = collectTracked(proc, maps, backend === 'pagemap-scan' ? 'soft-dirty' : backend, trackIncremental(backend), format, zeroPagePfn);
  return c.pipe.nrPages;
}
