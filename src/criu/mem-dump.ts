/**
 * One iteration of the pre-dump loop and the dump (CRIU's criu/mem.c), seeing the process only
 * through procfs as CRIU sees a real one: freeze, read the VMA list and pagemap (pagemap-cache),
 * collect pages and in-parent holes (page-pipe, by should_dump_page), clear_refs 4, and hand the
 * images to a page-xfer. Shared anonymous memory is dumped by object (shmem.img), as CRIU's shmem.c.
 *
 * Shared memory in pre-dumps: CRIU's cr_pre_dump_tasks() calls cr_dump_shmem() like the dump does,
 * while the tasks are still frozen, and shmem.c dumps a page of an object only when the pagemap of
 * a task mapping it says soft-dirty (is_shmem_tracking_en; the rest are holes in the parent). So
 * every iteration counts the shared pages it would write (shpages_*) and its time pays for them;
 * tracker's shmem.img of the final dump still holds each object whole, so restore needs no parent.
 */
import { join } from 'node:path';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { VM_UFFD_WP } from '../mm/vma.js';
import { kerndat } from '../proc/kerndat.js';
import { memDigest } from '../proc/mem-digest.js';
import type { PagemapFormat } from '../proc/pagemap.js';
import { readMemRuns } from '../proc/pid-mem.js';
import { readShmemPages, shmemObject } from '../proc/shmem-view.js';
import { readMaps, type MapsEntry } from '../proc/vma-list.js';
import type { ProcessHandle } from '../task/process.js';
import { IMAGE_VERSION } from './image.js';
import type { PagePipe } from './page-pipe.js';
import { openLocalXfer, type PageXfer } from './page-xfer.js';
import { compressingXfer } from './page-compress.js';
import { dedupParents } from './dedup.js';
import type { InventoryEntry, IterationStats, IterationTiming, MmEntry, ShmemImage, VmaEntry } from './schema.js';
import { vmaSyscallArgs } from './vma-entry.js';
import { collectTracked, resetTracking, trackIncremental, type TrackBackend } from './track.js';
import { PagemapCache } from './pagemap-cache.js';
import { pageInParent, shouldDumpPage } from './should-dump-page.js';

export interface CollectedShmem {
  /** Pages of the shared objects (CRIU's shpages_scanned). */
  scanned: number;
  /** Pages with contents left to the parent iteration (not soft-dirty in any mapping). */
  inParent: number;
  /** Pages with contents to write: all of them without a parent, else the soft-dirty ones. */
  written: number;
}

/**
 * shmem.c's page states for the shared anonymous objects, from the pagemap of every mapping: a
 * page is dirty when any mapping's pte says soft-dirty (PST_DIRTY wins), has contents when
 * present (not the zero page) or swapped.
 */
export function collectShmem(proc: ProcessHandle, maps: MapsEntry[], format: PagemapFormat, incremental: boolean, zeroPagePfn: number): CollectedShmem {
  const shared = maps.filter((v) => v.kind === 'shared' && v.shmemId >= 0);
  const out: CollectedShmem = { scanned: 0, inParent: 0, written: 0 };
  if (shared.length === 0) return out;
  const pmc = new PagemapCache(proc.task, format);
  const words = pmc.words;
  const byObject = new Map<number, MapsEntry[]>();
  for (const v of shared) byObject.set(v.shmemId, [...(byObject.get(v.shmemId) ?? []), v]);
  for (const vmas of byObject.values()) {
    out.scanned += shmemObject(proc.task, vmas[0].start)?.pages ?? 0;
    // One mapping: count as the pagemap goes. Several: a page's state is the union over them.
    const states = vmas.length > 1 ? new Map<number, boolean>() : null;
    for (const v of vmas) {
      for (let at = v.start; pmc.fill(at, v.end); at = pmc.start + pmc.count) {
        for (let i = 0; i < pmc.count; i++) {
          const lo = words[2 * i];
          const hi = words[2 * i + 1];
          if (!shouldDumpPage(lo, hi, false, zeroPagePfn)) continue;
          const dirty = !pageInParent(hi, incremental);
          if (states === null) {
            if (dirty) out.written++;
            else out.inParent++;
          } else {
            const index = v.pgoff + (pmc.start + i - v.start);
            states.set(index, (states.get(index) ?? false) || dirty);
          }
        }
      }
    }
    if (states !== null) for (const d of states.values()) d ? out.written++ : out.inParent++;
  }
  return out;
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
    // The dumper's own userfaultfd registration is not the process's: VM_UFFD_WP stays out of mm.img.
    vmas.push({ start: v.start, end: v.end, flags: v.flags & ~VM_UFFD_WP, kind: v.kind, pgoff: v.kind === 'anon' ? 0 : v.pgoff, file: v.file, shmem, ...vmaSyscallArgs(v.kind, v.flags & ~VM_UFFD_WP) });
  }
  return { mm: { vmas }, shmem: { objects, data: Buffer.concat(data) } };
}

export type { CollectedPages } from './track.js';

/** What an iteration read and wrote, for the caller's time model. */
export interface IterationCounts {
  final: boolean;
  /** Pagemap entries read and judged. */
  pagemapPages: number;
  /** Pages whose contents are written. */
  pagesWritten: number;
  /** Shared anonymous pages written (shmem.c, while the tasks are frozen). */
  shmemPagesWritten: number;
}

const UNTIMED: IterationTiming = { frozen_time: 0, memdump_time: 0, memwrite_time: 0, steps_during_copy: 0 };

export interface IterationResult {
  dir: string;
  stats: IterationStats;
  /** The pages written, as runs in address order (the page-pipe's iovs). */
  runs: { start: Float64Array; len: Int32Array; count: number };
  /** With `truth`: pages this iteration copied that nothing wrote since the one before. */
  falsePositives: number | null;
}

export interface DumpIterationOptions {
  imagesRoot: string;
  /** The final dump records a digest of the memory for restore to check (default true); false where no image is kept. */
  digest?: boolean;
  /** Leave the soft-dirty bits as they are (a final dump others pre-dump on from, in plan's shared rows). */
  keepRefs?: boolean;
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
   * How the pages are found (src/criu/track.ts). Default: soft-dirty where the kernel has it, else
   * none. The caller has checked the kernel supports it (trackUnsupported()).
   */
  track?: TrackBackend;
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
  /** The truly written set since the last iteration (the emulator's own record): count false positives. */
  truth?: { has(vpn: number): boolean } | null;
}

/**
 * One iteration: freeze, collect, clear_refs, write the images through the page-xfer and commit.
 * The images hold memory as it was while frozen; the caller then runs the workload for
 * stats.steps_during_copy, the steps it runs while the pages are copied.
 */
export function dumpIteration(proc: ProcessHandle, o: DumpIterationOptions): IterationResult {
  const task = proc.task;
  const track: TrackBackend = o.track ?? (o.softDirty ? 'soft-dirty' : 'none');
  const tracking = o.trackMem && trackIncremental(track);
  const incremental = tracking && o.hasParent;
  const maps = readMaps(task);
  const c = collectTracked(proc, maps, track, incremental, o.format, kerndat(proc.kernel).zeroPagePfn);
  const sh = collectShmem(proc, maps, o.format, incremental, kerndat(proc.kernel).zeroPagePfn);
  const pp = c.pipe;
  const final = o.type === 'dump';
  if (tracking && o.keepRefs !== true) resetTracking(proc, track);
  const bytes = pp.nrPages * PAGE_SIZE;
  const t = o.timing?.({ final, pagemapPages: c.read, pagesWritten: pp.nrPages, shmemPagesWritten: sh.written }) ?? UNTIMED;
  const stats: IterationStats = {
    iteration: o.iteration,
    type: o.type,
    pages_scanned: c.scanned,
    pages_skipped_parent: pp.nrHoles,
    pages_written: pp.nrPages,
    pages_zero: c.zero,
    bytes_written: bytes,
    ...t,
    ...(sh.scanned > 0 ? { shpages_scanned: sh.scanned, shpages_skipped_parent: sh.inParent, shpages_written: sh.written } : {}),
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
    clearedRefs: tracking && (track === 'soft-dirty' || track === 'pagemap-scan'),
    track,
    memoryDigest: final && o.digest !== false ? memDigest(task) : null,
    steps: proc.steps,
    ...(proc.kernel.mem.model === 'token' ? { memoryModel: 'token' as const } : {}),
  };
  const to = o.xfer ?? openLocalXfer({ imagesRoot: o.imagesRoot, name, iteration: o.iteration, faultPoint: o.faultPoint });
  const xfer = (o.compressRegion ?? 0) > 0 ? compressingXfer(to, o.compressRegion!) : to;
  try {
    if (xfer.writePagemapPipe !== undefined) xfer.writePagemapPipe(pp);
    else xfer.writePagemap(pp.entries());
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
  let falsePositives: number | null = null;
  if (o.truth !== undefined && o.truth !== null && o.hasParent) {
    falsePositives = 0;
    for (let r = 0; r < pp.nrPageRuns; r++) {
      for (let v = pp.pageStart[r], e = v + pp.pageLen[r]; v < e; v++) if (!o.truth.has(v)) falsePositives++;
    }
  }
  return { dir, stats, runs: { start: pp.pageStart, len: pp.pageLen, count: pp.nrPageRuns }, falsePositives };
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
