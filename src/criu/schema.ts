/** What the image files hold (see README "Image format" for a table per file). */
import type { MapsEntry } from '../proc/vma-list.js';
import type { ProgramIdentity, ProgramState } from '../task/process.js';
import type { VmaSyscallArgs } from './vma-entry.js';

export interface InventoryEntry {
  format: 'tracker';
  version: number;
  kernel: string;
  iteration: number;
  /** 'pre-dump' images hold memory only; 'dump' is a final dump with VMAs and program state. */
  type: 'pre-dump' | 'dump';
  /** Relative path of the parent iteration ("../1"), or null for the first. */
  parent: string | null;
  workload: ProgramIdentity;
  /** Incremental: pages not soft-dirty since the parent are left to it. */
  trackMem: boolean;
  /** clear_refs 4 was written at this iteration (so the next one can be incremental). */
  clearedRefs: boolean;
  /** The tracking backend (src/criu/track.ts); absent in images from before --track: soft-dirty. */
  track?: string;
  /** Digest of the whole process memory at this dump (final dumps only): 'blake3:HEX', or bare HEX for SHA-256 (older images). */
  memoryDigest: string | null;
  steps: number;
  /** Present when the dumped memory held content tokens (page-alloc.ts): its page bytes were synthesised. */
  memoryModel?: 'token';
}

/**
 * A VMA as /proc/PID/maps gives it (start, end, vm_flags, kind, pgoff, and for file mappings the
 * file to map again), with its shared memory object as an index into shmem.img, and (mm.img
 * version 2) the syscall arguments that re-create it, as CRIU's vma_entry: prot, map_flags, madv
 * (vma-entry.ts). `flags` stays vm_flags, as smaps shows them, for `tracker show`.
 */
export interface VmaEntry extends Omit<MapsEntry, 'shmemId'>, VmaSyscallArgs {
  shmem: number;
}

export interface MmEntry {
  vmas: VmaEntry[];
}

/** PE_* flags of a pagemap entry, as CRIU's pagemap.proto. */
export const PE_PARENT = 1 << 0;
export const PE_PRESENT = 1 << 2;
/**
 * tracker's own: with PE_PRESENT, a run whose data was released by dedup because a later iteration
 * dumped it again. It keeps its place in pages.img (a hole, read as zeros) and is never read.
 */
export const PE_RELEASED = 1 << 3;

export interface PagemapEntry {
  /** First page of the run. */
  vaddr: number;
  nr_pages: number;
  flags: number;
}

/** How pages.img is compressed (see page-compress.ts). */
export interface PageCompression {
  codec: 'lz4';
  /** Raw bytes per region, a multiple of the page size. */
  region: number;
}

export interface PagemapImage {
  entries: PagemapEntry[];
  /** Present when pages.img is compressed (see page-compress.ts); absent for raw page data. */
  compression?: PageCompression;
}

export interface ShmemImage {
  /** One per shared mapping object: its size and the pages (index runs) that are not zero. */
  objects: { id: number; pages: number; runs: [number, number][] }[];
  /** The pages of every run of every object, in order, 4096 bytes each. */
  data: Uint8Array;
}

export interface CoreImage {
  state: ProgramState;
}

export interface IterationStats {
  iteration: number;
  type: 'pre-dump' | 'dump';
  pages_scanned: number;
  pages_skipped_parent: number;
  pages_written: number;
  pages_zero: number;
  bytes_written: number;
  /** Bytes of page data in pages.img: bytes_written, or less when compressed (what crosses a link). */
  bytes_stored?: number;
  /** Microseconds of virtual time the process was frozen. */
  frozen_time: number;
  /** Virtual microseconds spent reading pagemap and collecting pages, and copying them out. */
  memdump_time: number;
  memwrite_time: number;
  /** Steps the workload ran while pages were being copied ('read' mode). */
  steps_during_copy: number;
  /** Shared anonymous memory, as CRIU's stats count it apart (shmem.c): pages of the objects, left to the parent, written. */
  shpages_scanned?: number;
  shpages_skipped_parent?: number;
  shpages_written?: number;
}

/** The virtual-time fields of IterationStats, which the migration driver's time model fills in. */
export type IterationTiming = Pick<IterationStats, 'frozen_time' | 'memdump_time' | 'memwrite_time' | 'steps_during_copy'>;
