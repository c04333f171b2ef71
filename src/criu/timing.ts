/**
 * Virtual time of one iteration: how long the process is frozen, how long pagemap takes to read
 * and the pages to leave, and how many workload steps run while they are copied.
 */
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { VIRTUAL_NS_PER_STEP } from '../workload/run.js';

/** Pagemap costs 2 ns a page to scan (a workload step is VIRTUAL_NS_PER_STEP). */
const PAGEMAP_NS_PER_PAGE = 2;
/** vmsplice into pipes while frozen ('splice' mode) runs at memory speed. */
const SPLICE_BYTES_PER_S = 10 * 1024 ** 3;

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
}

export interface IterationTiming {
  frozen_time: number;
  memdump_time: number;
  memwrite_time: number;
  /** Steps the caller runs the workload for after the iteration ('read' mode). */
  steps_during_copy: number;
}

export function iterationTiming(w: IterationWork): IterationTiming {
  const bytes = w.pagesWritten * PAGE_SIZE;
  const memdumpUs = (w.pagemapPages * PAGEMAP_NS_PER_PAGE) / 1000;
  const memwriteUs = (bytes / w.bandwidth) * 1e6;
  let frozenUs = memdumpUs;
  let stepsDuringCopy = 0;
  if (w.final) frozenUs += memwriteUs;
  else if (w.preDumpMode === 'splice') frozenUs += (bytes / SPLICE_BYTES_PER_S) * 1e6;
  // 'read': the process runs again while its pages are copied; whatever it writes meanwhile is
  // soft-dirty again and goes into the next iteration.
  else stepsDuringCopy = Math.round((memwriteUs * 1000) / VIRTUAL_NS_PER_STEP);
  return {
    frozen_time: Math.round(frozenUs),
    memdump_time: Math.round(memdumpUs),
    memwrite_time: Math.round(memwriteUs),
    steps_during_copy: stepsDuringCopy,
  };
}
