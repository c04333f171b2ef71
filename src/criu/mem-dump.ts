/**
 * The pre-dump loop and the dump (CRIU's criu/mem.c, seen through procfs as CRIU sees a real
 * process): freeze, read pagemap, collect the pages to dump, clear_refs 4, unfreeze, write images.
 *
 * Which pages go into an iteration:
 *   no pte / zero page                  hole: restored as zeros (never dumped)
 *   page cache page of a private file   not dumped: the restorer maps the same file
 *   present or swapped, soft-dirty      dumped here (PE_PRESENT)
 *   present or swapped, clean           left to the parent (PE_PARENT) when tracking memory
 * "If we do memory tracking, but w/o parent images, then we have to dump all memory."
 */
import { join } from 'node:path';
import { ImageError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import type { Mm } from '../mm/mm.js';
import type { Vma } from '../mm/vma.js';
import { mmap as sysMmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { KPF_ZERO_PAGE, kpageflags } from '../proc/kpageflags.js';
import { accessPage, forEachPageRun, memoryDigest } from '../proc/mem.js';
import { PM_FILE_HI, PM_PRESENT_HI, PM_SOFT_DIRTY_HI, PM_SWAP_HI, readPagemap, type PagemapFormat } from '../proc/pagemap.js';
import type { WorkloadProcess } from '../workload/process.js';
import { iterationTiming, type PreDumpMode } from './timing.js';
import { encodeImage, IMAGE_FILES, IMAGE_VERSION, writeChunks } from './image.js';
import { LocalImageXfer, type ImageXfer } from './image-xfer.js';
import { RegionCompressor, type PageCompression } from './page-compress.js';
import {
  PE_PARENT,
  PE_PRESENT,
  type InventoryEntry,
  type IterationStats,
  type MmEntry,
  type PagemapEntry,
  type ShmemImage,
  type VmaEntry,
} from './schema.js';

export type { PreDumpMode };

export interface CollectedPages {
  entries: PagemapEntry[];
  /** Page numbers whose contents go into pages.img, in order. */
  dump: number[];
  scanned: number;
  skippedParent: number;
  zero: number;
}

/** Read pagemap over the private VMAs and decide, page by page, what this iteration dumps. */
export function collectPages(mm: Mm, format: PagemapFormat, incremental: boolean): CollectedPages {
  const entries: PagemapEntry[] = [];
  const dump: number[] = [];
  let scanned = 0;
  let skippedParent = 0;
  let zero = 0;
  let runStart = -1;
  let runFlags = 0;
  let runLen = 0;
  const flush = () => {
    if (runLen > 0) entries.push({ vaddr: runStart, nr_pages: runLen, flags: runFlags });
    runLen = 0;
  };
  const mem = mm.mem;
  for (const vma of mm.vmas) {
    if (vma.kind === 'shared') continue; // dumped by contents, as CRIU dumps shmem apart
    const n = vma.pages;
    const words = new Uint32Array(n * 2);
    readPagemap(mm, vma.start, n, words, format);
    for (let i = 0; i < n; i++) {
      const lo = words[2 * i];
      const hi = words[2 * i + 1];
      let flags = 0;
      if ((hi & PM_PRESENT_HI) !== 0) {
        if ((kpageflags(mem, lo) & (1 << KPF_ZERO_PAGE)) !== 0) {
          zero++;
        } else if (vma.kind !== 'file' || (hi & PM_FILE_HI) === 0) {
          flags = incremental && (hi & PM_SOFT_DIRTY_HI) === 0 ? PE_PARENT : PE_PRESENT;
        }
      } else if ((hi & PM_SWAP_HI) !== 0) {
        flags = incremental && (hi & PM_SOFT_DIRTY_HI) === 0 ? PE_PARENT : PE_PRESENT;
      }
      const vpn = vma.start + i;
      if (flags === 0) {
        flush();
        continue;
      }
      scanned++;
      if (flags === PE_PARENT) skippedParent++;
      else dump.push(vpn);
      if (runLen > 0 && runFlags === flags && runStart + runLen === vpn) runLen++;
      else {
        flush();
        runStart = vpn;
        runFlags = flags;
        runLen = 1;
      }
    }
    flush();
  }
  return { entries, dump, scanned, skippedParent, zero };
}

/**
 * The contents of `vpns` as views of the frames and swap slots that hold them, neighbours merged:
 * what vmsplice hands to a pipe, with no copy. Valid until the process runs again.
 */
export function pageRuns(mm: Mm, vpns: number[]): Uint8Array[] {
  const runs: Uint8Array[] = [];
  forEachPageRun(mm, vpns.length, (i) => vpns[i], (arr, off, len) => runs.push(arr.subarray(off, off + len)));
  return runs;
}

function vmaEntries(mm: Mm): { mmEntry: MmEntry; shmem: Omit<ShmemImage, 'data'>; shmemPages: Buffer[] } {
  const vmas: VmaEntry[] = [];
  const shmem: Omit<ShmemImage, 'data'> = { objects: [] };
  const shmemPages: Buffer[] = [];
  const ids = new Map<number, number>();
  for (const vma of mm.vmas) {
    let shmemIndex = -1;
    if (vma.kind === 'shared' && vma.file !== null) {
      const f = vma.file;
      let idx = ids.get(f.id);
      if (idx === undefined) {
        idx = shmem.objects.length;
        ids.set(f.id, idx);
        const runs: [number, number][] = [];
        for (let i = 0; i < f.nrPages; i++) {
          if (f.pfn[i] < 0 && f.swap[i] === 0) continue;
          const data = f.pfn[i] >= 0 ? mm.mem.frame(f.pfn[i]) : mm.swap.read(f.swap[i]);
          const last = runs[runs.length - 1];
          if (last !== undefined && last[0] + last[1] === i) last[1]++;
          else runs.push([i, 1]);
          shmemPages.push(Buffer.from(data));
        }
        shmem.objects.push({ id: f.id, pages: f.nrPages, runs });
      }
      shmemIndex = idx;
    }
    vmas.push({
      start: vma.start,
      end: vma.end,
      flags: vma.flags,
      kind: vma.kind,
      pgoff: vma.kind === 'anon' ? 0 : vma.pgoff,
      file: vma.kind === 'file' && vma.file !== null ? { name: vma.file.name, pages: vma.file.nrPages, pattern: vma.file.pattern } : null,
      shmem: shmemIndex,
    });
  }
  return { mmEntry: { vmas }, shmem, shmemPages };
}

export interface IterationResult {
  dir: string;
  stats: IterationStats;
}

export interface DumpIterationOptions {
  imagesRoot: string;
  /** Name of the iteration directory in imagesRoot (default: the iteration number). */
  dirName?: string;
  /** The parent reference to record (default: ../N-1 when hasParent). */
  parentRef?: string;
  iteration: number;
  type: 'pre-dump' | 'dump';
  trackMem: boolean;
  hasParent: boolean;
  format: PagemapFormat;
  softDirty: boolean;
  preDumpMode: PreDumpMode;
  bandwidth: number;
  kernelName: KernelProfileName;
  /**
   * Crash points, for tests of crash safety: called with a file name before that file is written,
   * with 'pages.img:middle' halfway through the page data, and with 'rename' before the rename.
   */
  faultPoint?: (name: string) => void;
  /** Compress page data in regions of this many bytes (--compress-region); 0 or absent: raw. */
  compressRegion?: number;
  /** Release the parents' copies of the pages this iteration dumps (dedup.ts). */
  autoDedup?: boolean;
  /** Where the images go (default: the local directory imagesRoot). */
  xfer?: ImageXfer;
}

/**
 * One iteration: freeze, collect, clear_refs, write DIR/N.tmp and rename it to DIR/N. The images
 * hold memory as it was while frozen; the caller then runs the workload for
 * stats.steps_during_copy, the steps it runs while the pages are copied.
 */
export function dumpIteration(proc: WorkloadProcess, o: DumpIterationOptions): IterationResult {
  const mm = proc.task.mm;
  const incremental = o.trackMem && o.softDirty && o.hasParent;
  const c = collectPages(mm, o.format, incremental);
  const final = o.type === 'dump';
  if (o.softDirty && o.trackMem) clearRefsWrite(mm, '4');
  const bytes = c.dump.length * PAGE_SIZE;
  const t = iterationTiming({ final, preDumpMode: o.preDumpMode, bandwidth: o.bandwidth, pagemapPages: c.scanned + c.zero, pagesWritten: c.dump.length });
  const stats: IterationStats = {
    iteration: o.iteration,
    type: o.type,
    pages_scanned: c.scanned,
    pages_skipped_parent: c.skippedParent,
    pages_written: c.dump.length,
    pages_zero: c.zero,
    bytes_written: bytes,
    ...t,
  };
  const name = o.dirName ?? String(o.iteration);
  const dir = join(o.imagesRoot, name);
  const xfer = o.xfer ?? new LocalImageXfer(o.imagesRoot);
  xfer.open(name);
  const inventory: InventoryEntry = {
    format: 'tracker',
    version: IMAGE_VERSION,
    kernel: o.kernelName,
    iteration: o.iteration,
    type: o.type,
    parent: o.hasParent ? (o.parentRef ?? `../${o.iteration - 1}`) : null,
    workload: proc.identity,
    trackMem: incremental,
    clearedRefs: o.softDirty && o.trackMem,
    memoryDigest: final ? memoryDigest(mm) : null,
    steps: proc.steps,
  };
  const put = (name: string, data: Buffer) => {
    o.faultPoint?.(name);
    xfer.writeImage(name, data);
  };
  const region = o.compressRegion ?? 0;
  const compression: PageCompression | undefined = region > 0 ? { codec: 'lz4', region } : undefined;
  put(IMAGE_FILES.pagemap, encodeImage('pagemap', compression === undefined ? { entries: c.entries } : { entries: c.entries, compression }));
  o.faultPoint?.(IMAGE_FILES.pages);
  const sink = xfer.openPages();
  const middle = o.faultPoint === undefined ? undefined : () => o.faultPoint!(`${IMAGE_FILES.pages}:middle`);
  if (compression === undefined) writeChunks(pageRuns(mm, c.dump), (b) => sink.write(b), middle, bytes);
  else writeChunks(new RegionCompressor(region).frames(pageRuns(mm, c.dump)), (b) => sink.write(b), middle, 8);
  const stored = sink.finish();
  if (compression === undefined) {
    if (stored !== bytes) throw new Error(`internal: wrote ${stored} page bytes, expected ${bytes}`);
  } else stats.bytes_stored = stored;
  if (final) {
    const { mmEntry, shmem, shmemPages } = vmaEntries(mm);
    put(IMAGE_FILES.mm, encodeImage('mm', mmEntry));
    put(IMAGE_FILES.shmem, encodeImage('shmem', { objects: shmem.objects, data: Buffer.concat(shmemPages) }));
    put(IMAGE_FILES.core, encodeImage('core', { state: proc.saveState() }));
  }
  put(IMAGE_FILES.stats, encodeImage('stats', stats));
  // The inventory goes last: an iteration without one was never finished.
  put(IMAGE_FILES.inventory, encodeImage('inventory', inventory));
  o.faultPoint?.('rename');
  xfer.commit(o.autoDedup === true && o.hasParent);
  return { dir, stats };
}

export { ImageError };
