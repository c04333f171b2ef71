/**
 * Virtual time of one CRIU iteration (the time model of README "Time model"):
 *
 *   fixed      what an iteration costs besides memory: a pre-dump's seize, freeze, parasite and
 *              /proc parsing (--predump-cost); the dump's files, sockets, namespaces, core and the
 *              restore of them (--switchover-cost); frozen
 *   pagemap    reading pagemap and judging each entry: 2 ns a page, frozen
 *   splice     vmsplice of the pages into pipes at memory speed: frozen in 'splice' pre-dumps and
 *              in the dump (drain_pages); in 'read' pre-dumps the copy runs after the unfreeze
 *   memwrite   the pages leave at --bandwidth; a pre-dump's process runs meanwhile, the final
 *              dump's stays frozen
 *   shmem      shared anonymous pages leave at --bandwidth while frozen, in pre-dumps too:
 *              cr_pre_dump_tasks() runs cr_dump_shmem() before cr_pre_dump_finish() unfreezes
 *
 * CRIU's stats (criu/mem.c, __parasite_dump_pages_seized): memdump_time (TIME_MEMDUMP) runs from
 * the pagemap walk through draining the pages, and in a dump through writing them, so it includes
 * memwrite_time there; frozen_time includes both.
 */
import type { IterationCounts } from '../criu/mem-dump.js';
import type { IterationTiming } from '../criu/schema.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';

export type { IterationTiming };

/** Pagemap costs 2 ns a page to read and judge. */
export const PAGEMAP_NS_PER_PAGE = 2;
/** vmsplice into pipes while frozen ('splice' mode) runs at memory speed. */
export const SPLICE_BYTES_PER_S = 10 * 1024 ** 3;

/**
 * Fixed costs of a CRIU iteration, seconds. switchover: a real dump's frozen_time minus its
 * memdump_time, 116,647 - 11,168 us (checkpointctl issue #91, a Podman container's stats-dump,
 * 2023): everything but memory. preDump: that dump's freezing_time, 539 us, plus 10 ms for the
 * parasite and /proc parsing, an assumption (no published pre-dump stats split them out).
 */
export const CRIU_FIXED_COSTS = { preDump: 0.000539 + 0.01, switchover: 0.116647 - 0.011168 } as const;

export interface FixedCosts {
  /** Seconds frozen per pre-dump besides memory. */
  preDump: number;
  /** Seconds frozen at the final dump besides memory. */
  switchover: number;
}

export const NO_FIXED_COSTS: FixedCosts = { preDump: 0, switchover: 0 };

export type PreDumpMode = 'splice' | 'read';

export interface IterationWork {
  final: boolean;
  preDumpMode: PreDumpMode;
  /** Bytes per second the pages leave at. */
  bandwidth: number;
  /** Pagemap entries read and judged. */
  pagemapPages: number;
  /** Pages whose contents are written. */
  pagesWritten: number;
  /** Shared anonymous pages written (while frozen). */
  shmemPagesWritten?: number;
  /** Workload steps per virtual second (throttle included); absent: the process does not run. */
  rate?: number;
  costs?: FixedCosts;
}

export interface IterationSeconds {
  memdump_s: number;
  splice_s: number;
  memwrite_s: number;
  frozen_s: number;
  /** The process runs while the pages leave (pre-dumps only). */
  running_s: number;
}

/** Seconds `pages` pages take at `bytesPerS`: every bytes / bandwidth of the time model is this. */
export function transferSeconds(pages: number, bytesPerS: number): number {
  return (pages * PAGE_SIZE) / bytesPerS;
}

export function pagemapSeconds(pages: number): number {
  return (pages * PAGEMAP_NS_PER_PAGE) / 1e9;
}

export function iterationSeconds(w: IterationWork): IterationSeconds {
  const pagemap = pagemapSeconds(w.pagemapPages);
  const memwrite = transferSeconds(w.pagesWritten, w.bandwidth);
  const copy = transferSeconds(w.pagesWritten, SPLICE_BYTES_PER_S);
  const frozenCopy = w.final || w.preDumpMode === 'splice';
  const splice = frozenCopy ? copy : 0;
  const shmem = transferSeconds(w.shmemPagesWritten ?? 0, w.bandwidth);
  const costs = w.costs ?? NO_FIXED_COSTS;
  const fixed = w.final ? costs.switchover : costs.preDump;
  return {
    // TIME_MEMDUMP: the pagemap walk and the copy into pipes (in 'read' mode after the unfreeze), and the write in a dump.
    memdump_s: pagemap + copy + (w.final ? memwrite : 0),
    splice_s: splice,
    memwrite_s: memwrite,
    frozen_s: fixed + pagemap + splice + shmem + (w.final ? memwrite : 0),
    running_s: w.final ? 0 : memwrite,
  };
}

export function iterationTiming(w: IterationWork): IterationTiming {
  const s = iterationSeconds(w);
  return {
    frozen_time: Math.round(s.frozen_s * 1e6),
    memdump_time: Math.round(s.memdump_s * 1e6),
    memwrite_time: Math.round(s.memwrite_s * 1e6),
    steps_during_copy: w.rate === undefined ? 0 : Math.round(s.running_s * w.rate),
  };
}

/** The time model for one dump's iterations, as dumpIteration takes it (CRIU's stats fields, µs). */
export function dumpTiming(link: { preDumpMode: PreDumpMode; bandwidth: number; rate?: number; costs?: FixedCosts }): (c: IterationCounts) => IterationTiming {
  return (c) => iterationTiming({ ...c, ...link });
}

/**
 * The slowest link tracker models: 1 Mbit/s. Below it a single pre-dump of a small service takes
 * hours of virtual time, which the workload would have to run through (each virtual second is
 * up to a million workload steps of real work): a figure no migration plan needs.
 */
export const MIN_BANDWIDTH = 1e6 / 8;

/** Why a bandwidth (bytes/s) cannot be modelled, or null. */
export function bandwidthProblem(bytesPerS: number): string | null {
  if (!Number.isFinite(bytesPerS) || bytesPerS < MIN_BANDWIDTH) return `must be at least 1Mbit (${MIN_BANDWIDTH} bytes/s), the slowest link tracker models`;
  return null;
}
