/**
 * One iteration of the pre-dump loop and the dump (CRIU's criu/mem.c), seeing the process only
 * through procfs as CRIU sees a real one: freeze, read the VMA list and pagemap (pagemap-cache),
 * collect pages and in-parent holes (page-pipe, by should_dump_page), clear_refs 4, and hand the
 * images to a page-xfer. Shared anonymous memory is dumped by object (shmem.img), as CRIU's shmem.c.
 */
import { join } from 'node:path';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { kerndat } from '../proc/kerndat.js';
import { memDigest } from '../proc/mem-digest.js';
import type { PagemapFormat } from '../proc/pagemap.js';
import { readMemRuns } from '../proc/pid-mem.js';
import { readShmemPages, shmemObject } from '../proc/shmem-view.js';
import { readMaps, type MapsEntry } from '../proc/vma-list.js';
import type { ProcessHandle } from '../task/process.js';
import { IMAGE_VERSION } from './image.js';
import { PagemapCache } from './pagemap-cache.js';
import { PagePipe } from './page-pipe.js';
import { openLocalXfer, type PageXfer } from './page-xfer.js';
import { compressingXfer } from './page-compress.js';
import { dedupParents } from './dedup.js';
import type { InventoryEntry, IterationStats, IterationTiming, MmEntry, ShmemImage, VmaEntry } from './schema.js';
import { pageInParent, pageIsZero, shouldDumpPage } from './should-dump-page.js';

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

/** The VMA list and the shared memory objects, by contents. */
function mmAndShmem(proc: ProcessHandle, maps: MapsEntry[]): { mm: MmEntry; shmem: ShmemImage } {
  const vmas: VmaEntry[] = [];
  const objects: ShmemImage['objects'] = [];
  const data: Uint8Array[] = [];
  const index = new Map<number, number>();
  for (const v of maps) {
    let shmem = -1;
    if (v.kind === 'shared' && v.shmemId >= 0) {
      let idx = index.get(v.shmemId);
      if (idx === undefined) {
        idx = objects.length;
        index.set(v.shmemId, idx);
        const obj = shmemObject(proc.task, v.start)!;
        const runs: [number, number][] = [];
        readShmemPages(proc.task, v.start, (i, page) => {
          const last = runs[runs.length - 1];
          if (last !== undefined && last[0] + last[1] === i) last[1]++;
          else runs.push([i, 1]);
          data.push(Buffer.from(page));
        });
        objects.push({ id: obj.id, pages: obj.pages, runs });
      }
      shmem = idx;
    }
    vmas.push({ start: v.start, end: v.end, flags: v.flags, kind: v.kind, pgoff: v.kind === 'anon' ? 0 : v.pgoff, file: v.file, shmem });
  }
  return { mm: { vmas }, shmem: { objects, data: Buffer.concat(data) } };
}

/** What an iteration read and wrote, for the caller's time model. */
export interface IterationCounts {
  final: boolean;
  /** Pagemap entries read and judged. */
  pagemapPages: number;
  /** Pages whose contents are written. */
  pagesWritten: number;
}

const UNTIMED: IterationTiming = { frozen_time: 0, memdump_time: 0, memwrite_time: 0, steps_during_copy: 0 };

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
  /**
   * The iteration's virtual time from what it read and wrote: the migration driver's time model
   * (src/migrate/timing.ts). Absent: all zero, as for a dump nobody times.
   */
  timing?: (work: IterationCounts) => IterationTiming;
  kernelName: KernelProfileName;
  /** Crash points (see LocalXferOptions.faultPoint). */
  faultPoint?: (name: string) => void;
  /** Where the images go (default: DIR/N in imagesRoot, through DIR/.N.tmp). */
  xfer?: PageXfer;
  /** Compress page data in regions of this many bytes (--compress-region); 0 or absent: raw. */
  compressRegion?: number;
  /** Once the iteration is committed locally, release its parents' copies of the pages it holds. */
  autoDedup?: boolean;
}

/**
 * One iteration: freeze, collect, clear_refs, write the images through the page-xfer and commit.
 * The images hold memory as it was while frozen; the caller then runs the workload for
 * stats.steps_during_copy, the steps it runs while the pages are copied.
 */
export function dumpIteration(proc: ProcessHandle, o: DumpIterationOptions): IterationResult {
  const task = proc.task;
  const incremental = o.trackMem && o.softDirty && o.hasParent;
  const maps = readMaps(task);
  const c = collectPages(proc, maps, o.format, incremental, kerndat(proc.kernel).zeroPagePfn);
  const pp = c.pipe;
  const final = o.type === 'dump';
  if (o.softDirty && o.trackMem) clearRefsWrite(task.mm, '4');
  const bytes = pp.nrPages * PAGE_SIZE;
  const t = o.timing?.({ final, pagemapPages: c.read, pagesWritten: pp.nrPages }) ?? UNTIMED;
  const stats: IterationStats = {
    iteration: o.iteration,
    type: o.type,
    pages_scanned: c.scanned,
    pages_skipped_parent: pp.nrHoles,
    pages_written: pp.nrPages,
    pages_zero: c.zero,
    bytes_written: bytes,
    ...t,
  };
  const name = o.dirName ?? String(o.iteration);
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
    memoryDigest: final ? memDigest(task) : null,
    steps: proc.steps,
  };
  const to = o.xfer ?? openLocalXfer({ imagesRoot: o.imagesRoot, name, iteration: o.iteration, faultPoint: o.faultPoint });
  const xfer = (o.compressRegion ?? 0) > 0 ? compressingXfer(to, o.compressRegion!) : to;
  try {
    xfer.writePagemap(pp.entries());
    // Views of the frozen process's frames: stable until the iteration is written.
    xfer.writePages(bytes, pageChunks(proc, pp), true);
    if (final) {
      const { mm, shmem } = mmAndShmem(proc, maps);
      xfer.writeImage('mm', mm);
      xfer.writeImage('shmem', shmem);
      xfer.writeImage('core', { state: proc.saveState() });
    }
    xfer.writeImage('stats', stats);
    // The inventory goes last: an iteration without one was never finished.
    xfer.writeImage('inventory', inventory);
    xfer.commit();
  } catch (e) {
    xfer.abort();
    throw e;
  }
  const dir = join(o.imagesRoot, name);
  // A page server deduplicates on its side.
  if (o.autoDedup === true && o.hasParent && o.xfer === undefined) dedupParents(dir);
  return { dir, stats };
}

/** The page-pipe's contents, read through /proc/PID/mem in runs. */
function* pageChunks(proc: ProcessHandle, pp: PagePipe): Generator<Uint8Array> {
  const pending: Uint8Array[] = [];
  for (let r = 0; r < pp.nrPageRuns; r++) {
    readMemRuns(proc.task, pp.pageStart.subarray(r, r + 1), pp.pageLen.subarray(r, r + 1), 1, (d) => pending.push(d));
    yield* pending;
    pending.length = 0;
  }
}
