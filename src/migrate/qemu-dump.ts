/**
 * QEMU's loop (qemu.ts) on the emulated process: QEMU's dirty bitmap is the soft-dirty bits, a
 * bitmap sync is an iteration of the image chain (pagemap read, pages taken, clear_refs 4), and the
 * guest runs on virtual time while the chunks leave. A sync does not freeze the guest (KVM's dirty
 * log is read while it runs); only the switchover stops it. The images stay a correct chain: a
 * pass cut short leaves its unsent pages in its own iteration, and the final dump takes what
 * was dirtied since, so restore gives the memory at the switchover.
 */
import type { IterationResult } from '../criu/mem-dump.js';
import type { IterationStats } from '../criu/schema.js';
import type { Mm } from '../mm/mm.js';
import { PM_PRESENT_HI, PM_SOFT_DIRTY_HI, PM_SWAP_HI, readPagemap, type PagemapFormat } from '../proc/pagemap.js';
import type { WorkloadClock } from '../workload/index.js';
import { PageRuns } from './page-runs.js';
import { runQemu, type GuestRam, type QemuOptions, type QemuPass, type QemuResult } from './qemu.js';
import { countSoftDirty } from './run.js';

const BATCH = 4096;

/** Soft-dirty pages (present or swapped) among the unsent pages of `pending`. */
export function softDirtyIn(mm: Mm, pending: PageRuns, words: Uint32Array, format: PagemapFormat): number {
  let n = 0;
  pending.forEachUnsent((start, len) => {
    for (let at = start; at < start + len; at += BATCH) {
      const count = Math.min(BATCH, start + len - at);
      readPagemap(mm, at, count, words, format);
      for (let i = 0; i < count * 2; i += 2) {
        const hi = words[i + 1];
        if ((hi & PM_SOFT_DIRTY_HI) !== 0 && (hi & (PM_PRESENT_HI | PM_SWAP_HI)) !== 0) n++;
      }
    }
  });
  return n;
}

export interface QemuDumpContext {
  mm: Mm;
  clock: WorkloadClock;
  format: PagemapFormat;
  zeroPagePfn: number;
  /** One iteration of the chain (the caller's dumpIteration with its images, xfer and fault points). */
  dump: (iteration: number, type: 'pre-dump' | 'dump') => IterationResult;
  /** Called with each iteration's stats before it is taken. */
  onStart?: (s: IterationStats) => void;
  /** Called before every chunk's running time with the iteration under way: throws to stop (cancellation). */
  check?: (iteration: number) => void;
}

export interface QemuSync {
  result: IterationResult;
  pass: QemuPass | null;
}

/** Run QEMU's migration of the emulated process; returns the engine's result and each sync's iteration. */
export function qemuDump(c: QemuDumpContext, o: Omit<QemuOptions, 'onPass'>): { result: QemuResult; syncs: QemuSync[] } {
  const words = new Uint32Array(BATCH * 2);
  const syncs: QemuSync[] = [];
  const ram: GuestRam = {
    run(seconds, throttlePct) {
      c.check?.(syncs.length + 1);
      if (throttlePct >= 100) {
        c.clock.wait(seconds);
        return;
      }
      c.clock.throttlePct = throttlePct;
      c.clock.runFor(seconds);
    },
    peek(pending) {
      return { dirty: countSoftDirty(c.mm, words, c.format, c.zeroPagePfn), overlap: softDirtyIn(c.mm, pending, words, c.format) };
    },
    sync(kind) {
      const iteration = syncs.length + 1;
      const type = kind === 'final' ? 'dump' : 'pre-dump';
      c.onStart?.({ iteration, type } as IterationStats);
      const r = c.dump(iteration, type);
      syncs.push({ result: r, pass: null });
      return PageRuns.of(r.runs.start, r.runs.len, r.runs.count);
    },
  };
  const result = runQemu(ram, {
    ...o,
    onPass: (p) => {
      syncs[syncs.length - 1].pass = p;
    },
  });
  return { result, syncs };
}
