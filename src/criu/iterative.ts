/**
 * `tracker dump --iterative`: pre-dump until a policy says stop, then the final dump.
 * P.Haul's rule: stop when an iteration writes few pages, when it grows over the previous one,
 * or after a number of iterations.
 */
import { ResourceError } from '../errors.js';
import { OutOfMemory } from '../mm/page-alloc.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { createWorkload } from '../workload/index.js';
import type { IterationStats } from './schema.js';
import { kerndat } from '../proc/kerndat.js';
import { dumpIteration } from './mem-dump.js';
import { prepareImagesRoot } from './images-dir.js';
import { PageServerLink, type PageServerTarget } from './page-xfer-remote.js';
import type { PreDumpMode } from './timing.js';

export interface IterativeDumpOptions {
  imagesDir: string;
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  /** Workload steps between iterations. */
  interval: number;
  policy: 'phaul' | 'fixed';
  /** With policy 'fixed': exactly this many iterations (N-1 pre-dumps and the final dump). */
  iterations: number;
  maxIters: number;
  /** P.Haul thresholds. */
  minPages: number;
  maxGrowthPercent: number;
  preDumpMode: PreDumpMode;
  /** Bytes per second the pages travel at (virtual time). */
  bandwidth: number;
  leaveRunning: boolean;
  force: boolean;
  memoryBytes?: number;
  /** --compress-region (0: raw page data) and --auto-dedup. */
  compressRegion?: number;
  autoDedup?: boolean;
  /** Send the iterations to `tracker page-server` instead of imagesDir. */
  pageServer?: PageServerTarget;
  onIteration?: (stats: IterationStats, phase: 'start' | 'done') => void;
  faultPoint?: (name: string) => void;
}

export interface DumpReport {
  images_dir: string;
  workload: { model: string; source: string; seed: number };
  kernel: KernelProfileName;
  dirty_tracking: boolean;
  warning: string | null;
  stop_reason: string;
  iterations: IterationStats[];
  totals: { pages_written: number; bytes_written: number; pages_skipped_parent: number; frozen_time: number };
  final_frozen_time: number;
  memory_digest_steps: number;
  left_running: boolean;
}

export const DEFAULT_DUMP_OPTIONS = {
  interval: 200_000,
  policy: 'phaul' as const,
  iterations: 4,
  maxIters: 8,
  minPages: 64,
  maxGrowthPercent: 10,
  preDumpMode: 'splice' as const,
  bandwidth: 1024 ** 3,
};

/** The crash points dumpIteration reports, in the order it reaches them. */
export const CRASH_POINTS = ['pagemap.img', 'pages.img', 'pages.img:middle', 'mm.img', 'shmem.img', 'core.img', 'stats.img', 'inventory.img', 'rename'] as const;

/**
 * TRACKER_FAULT=N:POINT (e.g. 2:pages.img:middle) kills the dumping process at that point of
 * iteration N with SIGKILL, as a crash would: nothing is cleaned up.
 */
function crashPoint(iteration: number, hook: ((name: string) => void) | undefined): ((name: string) => void) | undefined {
  const spec = process.env.TRACKER_FAULT;
  if (spec === undefined || spec === '') return hook;
  return (name) => {
    hook?.(name);
    if (spec === `${iteration}:${name}`) process.kill(process.pid, 'SIGKILL');
  };
}

export function iterativeDump(o: IterativeDumpOptions): DumpReport {
  // With a page server the images go there (its -D); nothing is written locally.
  const link = o.pageServer !== undefined ? new PageServerLink(o.pageServer, { force: o.force, autoDedup: o.autoDedup === true }) : null;
  if (link === null) prepareImagesRoot(o.imagesDir, o.force);
  const kernel = new Kernel({ profile: o.kernel, memoryBytes: o.memoryBytes });
  const dt = kerndat(kernel);
  const warning = dt.softDirty ? null : `kernel profile '${o.kernel}' has no soft-dirty tracking: every iteration is a full dump`;
  const proc = createWorkload(kernel, o.workload, o.seed);
  const all: IterationStats[] = [];
  let stop = '';
  try {
    for (let it = 1; ; it++) {
      proc.run(o.interval);
      let final = false;
      if (o.policy === 'fixed') {
        final = it >= o.iterations;
        if (final) stop = `fixed policy: ${o.iterations} iterations`;
      } else if (it >= o.maxIters) {
        final = true;
        stop = `reached --max-iters ${o.maxIters}`;
      }
      if (!final && o.policy === 'phaul' && it > 1) {
        const prev = all[all.length - 1];
        // Peek at what this iteration would write, as P.Haul looks at the last pre-dump.
        if (prev.pages_written <= o.minPages) {
          final = true;
          stop = `pre-dump ${prev.iteration} wrote ${prev.pages_written} pages (<= ${o.minPages})`;
        } else if (all.length >= 2) {
          const before = all[all.length - 2];
          if (prev.pages_written > before.pages_written * (1 + o.maxGrowthPercent / 100)) {
            final = true;
            stop = `pre-dump ${prev.iteration} grew ${Math.round((prev.pages_written / before.pages_written - 1) * 100)}% over the one before (> ${o.maxGrowthPercent}%)`;
          }
        }
      }
      const placeholder = { iteration: it, type: final ? 'dump' : 'pre-dump' } as IterationStats;
      o.onIteration?.(placeholder, 'start');
      const fault = crashPoint(it, o.faultPoint);
      const r = dumpIteration(proc, {
        imagesRoot: o.imagesDir,
        iteration: it,
        type: final ? 'dump' : 'pre-dump',
        trackMem: dt.softDirty,
        hasParent: it > 1,
        format: dt.pagemapFormat,
        softDirty: dt.softDirty,
        preDumpMode: o.preDumpMode,
        bandwidth: o.bandwidth,
        kernelName: o.kernel,
        faultPoint: fault,
        compressRegion: o.compressRegion,
        autoDedup: o.autoDedup,
        xfer: link?.open(it, fault),
      });
      // The workload runs on while the pages are copied; what it writes is dirty for the next one.
      proc.run(r.stats.steps_during_copy);
      all.push(r.stats);
      o.onIteration?.(r.stats, 'done');
      if (final) break;
    }
    link?.close();
  } catch (e) {
    link?.destroy();
    if (e instanceof OutOfMemory) throw new ResourceError('the emulated machine ran out of memory; use a smaller workload');
    throw e;
  }
  const steps = proc.steps;
  if (!o.leaveRunning) kernel.exit(proc.task);
  const sum = (k: 'pages_written' | 'bytes_written' | 'pages_skipped_parent' | 'frozen_time') => all.reduce((a, s) => a + s[k], 0);
  return {
    images_dir: o.pageServer !== undefined ? `page-server ${o.pageServer.address}:${o.pageServer.port}` : o.imagesDir,
    workload: { model: proc.identity.model, source: proc.identity.source, seed: proc.identity.seed },
    kernel: o.kernel,
    dirty_tracking: dt.softDirty,
    warning,
    stop_reason: stop,
    iterations: all,
    totals: {
      pages_written: sum('pages_written'),
      bytes_written: sum('bytes_written'),
      pages_skipped_parent: sum('pages_skipped_parent'),
      frozen_time: sum('frozen_time'),
    },
    final_frozen_time: all[all.length - 1].frozen_time,
    memory_digest_steps: steps,
    left_running: o.leaveRunning,
  };
}
