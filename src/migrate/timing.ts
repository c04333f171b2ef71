/**
 * Virtual time of one iteration (the time model of README "Time model"):
 *
 *   memdump    reading pagemap and judging each entry: 2 ns a page, frozen
 *   splice     'splice' pre-dumps: vmsplice of the pages into pipes at memory speed, frozen
 *   memwrite   the pages leave at --bandwidth; a pre-dump's process runs meanwhile (splice: the
 *              pipes drain; read: it was unfrozen before the copy), the final dump's stays frozen
 *
 * So a pre-dump is frozen for memdump (+ splice) and the process then runs for memwrite; the final
 * dump is frozen for memdump + memwrite: the downtime.
 */
import type { IterationCounts } from '../criu/mem-dump.js';
import type { IterationTiming } from '../criu/schema.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';

export type { IterationTiming };

/** Pagemap costs 2 ns a page to read and judge. */
export const PAGEMAP_NS_PER_PAGE = 2;
/** vmsplice into pipes while frozen ('splice' mode) runs at memory speed. */
export const SPLICE_BYTES_PER_S = 10 * 1024 ** 3;

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
  /** Workload steps per virtual second (throttle included); absent: the process does not run. */
  rate?: number;
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
  const memdump = pagemapSeconds(w.pagemapPages);
  const memwrite = transferSeconds(w.pagesWritten, w.bandwidth);
  const splice = !w.final && w.preDumpMode === 'splice' ? transferSeconds(w.pagesWritten, SPLICE_BYTES_PER_S) : 0;
  return {
    memdump_s: memdump,
    splice_s: splice,
    memwrite_s: memwrite,
    frozen_s: memdump + splice + (w.final ? memwrite : 0),
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
export function dumpTiming(link: { preDumpMode: PreDumpMode; bandwidth: number; rate?: number }): (c: IterationCounts) => IterationTiming {
  return (c) => iterationTiming({ ...c, ...link });
}
