/**
 * `tracker dump --iterative`: pre-dump until a policy (policy.ts) says stop, then the final dump,
 * on a virtual clock (timing.ts):
 *
 *   setup and populate   the service is running before the migration starts: not timed
 *   iteration k          freeze, read pagemap, take the dirty pages, clear_refs 4; a pre-dump
 *                        then lets the process run while its pages leave at --bandwidth (splice:
 *                        after they are spliced into pipes; read: during the whole copy); the
 *                        final dump keeps it frozen until its last page has left (the downtime)
 *   --interval           the process runs on between the end of one iteration and the next (and
 *                        once before the first, as a scripted `tracker pre-dump` does)
 *
 * Before each iteration after the first, the dirty pages are counted through pagemap without
 * clearing (the expected downtime if we stopped here, and what QEMU's rule looks at).
 */
import { InterruptedError, ResourceError, TrackerError } from '../errors.js';
import { OutOfMemory } from '../mm/page-alloc.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { createWorkload, durationSeconds, WorkloadClock, type Duration } from '../workload/index.js';
import { countSoftDirty } from './run.js';
import type { IterationStats } from '../criu/schema.js';
import { kerndat, kerndatSoftDirty } from '../proc/kerndat.js';
import { dumpIteration } from '../criu/mem-dump.js';
import { fsError, prepareImagesRoot, type LockOwner } from '../criu/images-dir.js';
import { AutoConverge, decide, DEFAULT_MAX_ITERS, PHAUL, QEMU, type PolicyName } from './policy.js';
import { dumpTiming, iterationSeconds, transferSeconds, type PreDumpMode } from './timing.js';
import { PageServerLink, type PageServerTarget } from '../criu/page-xfer-remote.js';

export interface IterativeDumpOptions {
  imagesDir: string;
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  /** Time the workload runs between iterations; a number is steps. */
  interval: Duration | number;
  policy: PolicyName;
  /** With policy 'fixed': exactly this many iterations (N-1 pre-dumps and the final dump). */
  iterations: number;
  /** Iterations in all at most; undefined: the policy's own bound (DEFAULT_MAX_ITERS). */
  maxIters?: number;
  /** P.Haul thresholds. */
  minPages: number;
  maxGrowthPercent: number;
  /** qemu: the downtime the final dump may take, seconds. */
  downtimeLimit: number;
  /** QEMU's auto-converge throttle. */
  autoConverge?: boolean;
  /** Steps per virtual second, over the workload's own rate. */
  rate?: number;
  preDumpMode: PreDumpMode;
  /** Bytes per second the pages leave at. */
  bandwidth: number;
  force: boolean;
  memoryBytes?: number;
  /** --compress-region (0: raw page data) and --auto-dedup. */
  compressRegion?: number;
  autoDedup?: boolean;
  /** Send the iterations to `tracker page-server` instead of imagesDir. */
  pageServer?: PageServerTarget;
  onIteration?: (stats: IterationStats, phase: 'start' | 'done') => void;
  /** Called at each crash point of each iteration (CRASH_POINTS); tests inject faults here. */
  faultPoint?: (iteration: number, point: string) => void;
  /** Checked at every safe point: once aborted, the dump removes the partial iteration and throws InterruptedError. */
  signal?: CancelSignal;
  /** Who locks the images directory (default: this process, from /proc/self). */
  lockOwner?: LockOwner;
}

/** What the dump checks to stop early: an AbortSignal, or anything with `aborted`. */
export interface CancelSignal {
  readonly aborted: boolean;
}

/** What survives a failure in `iteration`: "iterations 1-2 are intact". */
export function intactPhrase(iteration: number): string {
  const done = iteration - 1;
  return done === 0 ? 'nothing was kept' : done === 1 ? 'iteration 1 is intact' : `iterations 1-${done} are intact`;
}

/** "interrupted in iteration 3; iterations 1-2 are intact" */
export function interruptedMessage(iteration: number): string {
  return `interrupted in iteration ${iteration}; ${intactPhrase(iteration)}`;
}

/** One iteration as `dump --iterative` reports it: CRIU's stats and the virtual clock. */
export interface IterationReport extends IterationStats {
  /** Virtual seconds from the first pre-dump's freeze to this iteration's. */
  start_s: number;
  /** Freeze to last page sent. */
  duration_s: number;
  frozen_s: number;
  /** Seconds the process ran while the pages left. */
  running_s: number;
  /** Dirty pages counted before the next iteration (null for the final dump). */
  dirty_pages_after: number | null;
  /** Downtime if the final dump came next: dirty bytes / bandwidth (QEMU's expected-downtime). */
  expected_downtime_s: number;
  /** Percentage of the time the workload was throttled during this iteration (auto-converge). */
  throttle_pct: number;
  note: string | null;
}

export interface DumpReport {
  images_dir: string;
  workload: { model: string; source: string; seed: number };
  kernel: KernelProfileName;
  dirty_tracking: boolean;
  warning: string | null;
  policy: PolicyName;
  /** Bytes per second. */
  bandwidth: number;
  /** Steps per virtual second the workload ran at (before any throttle). */
  rate: number;
  interval_s: number;
  downtime_limit_s: number;
  stop_reason: string;
  /** The policy stopped on its convergence rule. */
  converged: boolean;
  /** The first iteration whose pages did not shrink by 5 % from the one before (null: never). */
  plateau_iteration: number | null;
  iterations: IterationReport[];
  totals: { pages_written: number; bytes_written: number; pages_skipped_parent: number; frozen_time: number };
  bytes_sent: number;
  /** The final dump's frozen time, seconds. */
  downtime_s: number;
  /** From the first freeze to the last page of the final dump. */
  total_time_s: number;
  final_frozen_time: number;
  memory_digest_steps: number;
}

export { DEFAULT_DUMP_OPTIONS } from './options.js';

/** A pre-dump whose pages are within this fraction of the one before has stopped shrinking. */
const PLATEAU = 0.95;

/** The crash points dumpIteration reports, in the order it reaches them. */
export const CRASH_POINTS = ['pagemap.img', 'pages.img', 'pages.img:middle', 'mm.img', 'shmem.img', 'core.img', 'stats.img', 'inventory.img', 'rename'] as const;

/**
 * The images directory is locked for the whole dump. A safe point (each iteration's start, each
 * crash point) checks `signal`; on any failure the partial .N.tmp is removed, the lock released,
 * and a -D tracker created and left empty removed. Without soft-dirty tracking there are no
 * pre-dumps, one full dump: P.Haul's rule when the kernel cannot track memory.
 */
export function iterativeDump(o: IterativeDumpOptions): DumpReport {
  // With a page server, the server prepares and locks its own -D.
  const images = o.pageServer !== undefined ? null : prepareImagesRoot(o.imagesDir, o.force, o.lockOwner);
  let current = 1;
  const check = () => {
    if (o.signal?.aborted === true) throw new InterruptedError(interruptedMessage(current));
  };
  try {
    const tracked = kerndatSoftDirty(new Kernel({ profile: o.kernel, memoryBytes: 16 << 20 }));
    const r = dumpLoop({
      ...o,
      ...(tracked ? {} : { policy: 'fixed' as const, iterations: 1 }),
      onIteration: (s, phase) => {
        if (phase === 'start') {
          current = s.iteration;
          check();
        }
        o.onIteration?.(s, phase);
      },
      faultPoint: (it, point) => {
        o.faultPoint?.(it, point);
        check();
      },
    });
    images?.release();
    if (tracked) return r;
    return { ...r, warning: `kernel profile '${o.kernel}' has no soft-dirty tracking: no pre-dumps, one full dump (as P.Haul does without memory tracking)`, stop_reason: 'no soft-dirty tracking: one full dump' };
  } catch (e) {
    images?.abandon(String(current));
    if (!(e instanceof TrackerError) && typeof (e as NodeJS.ErrnoException)?.code === 'string') {
      throw fsError(`iteration ${current} could not be written to ${o.imagesDir}`, e, `its partial .${current}.tmp was removed and ${intactPhrase(current)}; free some space or choose another -D`);
    }
    throw e;
  }
}

export function resolvedMaxIters(o: Pick<IterativeDumpOptions, 'policy' | 'maxIters' | 'iterations'>): number {
  if (o.policy === 'fixed') return o.iterations;
  return o.maxIters ?? DEFAULT_MAX_ITERS[o.policy];
}

function dumpLoop(o: IterativeDumpOptions): DumpReport {
  // With a page server the images go there (its -D); nothing is written locally.
  const link = o.pageServer !== undefined ? new PageServerLink(o.pageServer, { force: o.force, autoDedup: o.autoDedup === true }) : null;
  const kernel = new Kernel({ profile: o.kernel, memoryBytes: o.memoryBytes });
  const dt = kerndat(kernel);
  let warning = dt.softDirty ? null : `kernel profile '${o.kernel}' has no soft-dirty tracking: every iteration is a full dump`;
  const proc = createWorkload(kernel, o.workload, o.seed, o.rate === undefined ? {} : { rate: o.rate });
  const clock = new WorkloadClock(proc);
  const interval: Duration = typeof o.interval === 'number' ? { steps: o.interval } : o.interval;
  const maxIters = resolvedMaxIters(o);
  const policy = { policy: o.policy, iterations: o.iterations, maxIters, minPages: o.minPages, maxGrowthPercent: o.maxGrowthPercent, downtimeLimit: o.downtimeLimit, bandwidth: o.bandwidth };
  const throttle = o.autoConverge === true ? new AutoConverge() : null;
  const words = new Uint32Array(4096 * 2);
  const all: IterationReport[] = [];
  const written: number[] = [];
  let stop = '';
  let converged = false;
  let plateau: number | null = null;
  try {
    // A migration starts from a running service: setup and populate are over, and the service
    // has run one --interval (as each later iteration has); time counts from the first freeze.
    proc.run(proc.warmUpSteps ?? 0);
    clock.run(interval);
    clock.now = 0;
    // Op scripts and traces have no setup phase: with no --interval they would be dumped before their first line.
    if (proc.steps === 0) warning = `the workload had not run when the first pre-dump froze it (${proc.identity.model} has no setup phase): give --interval, e.g. --interval 10ms, to let it run first`;
    for (let it = 1; ; it++) {
      const prev = all[all.length - 1];
      let dirty = 0;
      if (prev !== undefined) {
        clock.run(interval);
        // What the next dump would write: soft-dirty pages, or all resident ones without tracking.
        dirty = dt.softDirty ? countSoftDirty(proc.task.mm, words, dt.pagemapFormat, dt.zeroPagePfn) : proc.task.mm.rssPages();
        prev.dirty_pages_after = dirty;
        prev.expected_downtime_s = transferSeconds(dirty, o.bandwidth);
        if (throttle !== null) clock.throttlePct = throttle.check(dirty * PAGE_SIZE, prev.bytes_written);
      }
      // The final dump's pagemap read takes about as long as the last one did.
      const scanS = prev === undefined ? 0 : prev.memdump_time / 1e6;
      const d = decide(policy, { iteration: it, written, dirtyPages: dirty, scanSeconds: scanS });
      const final = d.final;
      if (final) {
        stop = d.reason;
        converged = d.converged;
      }
      const type = final ? 'dump' : 'pre-dump';
      o.onIteration?.({ iteration: it, type } as IterationStats, 'start');
      const start = clock.now;
      const fault = (point: string) => o.faultPoint?.(it, point);
      const r = dumpIteration(proc, {
        imagesRoot: o.imagesDir,
        iteration: it,
        type,
        trackMem: dt.softDirty,
        hasParent: it > 1,
        format: dt.pagemapFormat,
        softDirty: dt.softDirty,
        timing: dumpTiming({ preDumpMode: o.preDumpMode, bandwidth: o.bandwidth, rate: clock.rate }),
        kernelName: o.kernel,
        faultPoint: fault,
        compressRegion: o.compressRegion,
        autoDedup: o.autoDedup,
        xfer: link?.open(it, fault),
      });
      const s = r.stats;
      // Frozen: as CRIU's stats say (µs); running: while the pages leave, exactly.
      const frozen = s.frozen_time / 1e6;
      const t = iterationSeconds({ final, preDumpMode: o.preDumpMode, bandwidth: o.bandwidth, pagemapPages: 0, pagesWritten: s.pages_written });
      clock.wait(frozen);
      // The workload runs on while the pages leave; what it writes is dirty for the next one.
      if (s.steps_during_copy > 0) proc.run(s.steps_during_copy);
      clock.wait(t.running_s);
      let note: string | null = null;
      if (plateau === null && prev !== undefined && it > 2 && s.pages_written >= PLATEAU * prev.pages_written) {
        plateau = it;
        note = `the dirty set stopped shrinking (${s.pages_written} pages after ${prev.pages_written}): later pre-dumps gain nothing`;
      }
      const rep: IterationReport = {
        ...s,
        start_s: start,
        duration_s: clock.now - start,
        frozen_s: frozen,
        running_s: t.running_s,
        dirty_pages_after: null,
        expected_downtime_s: final ? frozen : transferSeconds(s.pages_written, o.bandwidth),
        throttle_pct: clock.throttlePct,
        note,
      };
      all.push(rep);
      if (!final) written.push(s.pages_written);
      o.onIteration?.(rep, 'done');
      if (final) break;
    }
    link?.close();
  } catch (e) {
    link?.destroy();
    if (e instanceof OutOfMemory) throw new ResourceError('the emulated machine ran out of memory; use a smaller workload');
    throw e;
  }
  const steps = proc.steps;
  kernel.exit(proc.task);
  const sum = (k: 'pages_written' | 'bytes_written' | 'pages_skipped_parent' | 'frozen_time') => all.reduce((a, s) => a + s[k], 0);
  const last = all[all.length - 1];
  return {
    images_dir: o.pageServer !== undefined ? `page-server ${o.pageServer.address}:${o.pageServer.port}` : o.imagesDir,
    workload: { model: proc.identity.model, source: proc.identity.source, seed: proc.identity.seed },
    kernel: o.kernel,
    dirty_tracking: dt.softDirty,
    warning,
    policy: o.policy,
    bandwidth: o.bandwidth,
    rate: clock.baseRate,
    interval_s: durationSeconds(interval, clock.baseRate),
    downtime_limit_s: o.downtimeLimit,
    stop_reason: stop,
    converged,
    plateau_iteration: plateau,
    iterations: all,
    totals: {
      pages_written: sum('pages_written'),
      bytes_written: sum('bytes_written'),
      pages_skipped_parent: sum('pages_skipped_parent'),
      frozen_time: sum('frozen_time'),
    },
    bytes_sent: sum('bytes_written'),
    downtime_s: last.frozen_s,
    total_time_s: clock.now,
    final_frozen_time: last.frozen_time,
    memory_digest_steps: steps,
  };
}
