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
import { InterruptedError, ResourceError, TrackerError, UsageError } from '../errors.js';
import { OutOfMemory } from '../mm/page-alloc.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import type { PageSet } from '../mm/page-set.js';
import { createWorkload, durationSeconds, runChecked, WorkloadClock, workloadMemoryNeed, type Duration } from '../workload/index.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { checkFits } from './capacity.js';
import { openCountingXfer, type CountedIteration } from '../criu/page-xfer-count.js';
import { countSoftDirty } from './run.js';
import type { IterationStats } from '../criu/schema.js';
import { kerndat, kerndatSoftDirty } from '../proc/kerndat.js';
import { dumpIteration, type DumpIterationOptions } from '../criu/mem-dump.js';
import { pendingPages, trackIncremental, trackUnsupported, type TrackBackend } from '../criu/track.js';
import { readMaps } from '../proc/vma-list.js';
import { fsError, prepareImagesRoot, type LockOwner } from '../criu/images-dir.js';
import { AutoConverge, decide, DEFAULT_MAX_ITERS, isCriuDriven, isQemuEngine, type PolicyName, type PolicyOptions } from './policy.js';
import { bandwidthProblem, CRIU_FIXED_COSTS, dumpTiming, iterationSeconds, NO_FIXED_COSTS, transferSeconds, type FixedCosts, type PreDumpMode } from './timing.js';
import { qemuDump } from './qemu-dump.js';
import { QEMU_DEFAULTS, type QemuOutcome, type MonitorAction } from './qemu.js';
import { KUBEVIRT_DEFAULTS, KubevirtMonitor, type DowntimeTuning, type StallDetection } from './policy-kubevirt.js';
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
  /** Model parameters over the workload's (--param key=value). */
  params?: Record<string, unknown>;
  /** How frames hold their contents (page-alloc.ts); default content. */
  memoryModel?: MemoryModel;
  /** Stationary steady states advance by sampled page writes, not access by access (model.ts). */
  fast?: boolean;
  /**
   * Write no images: a counting page-xfer (page-xfer-count.ts) takes each iteration, and the final
   * dump records no memory digest. Nothing is created in imagesDir. What each iteration would have
   * written goes to `counted`, pagemaps included with `keep` (heat maps).
   */
  count?: { keep: boolean; iterations: CountedIteration[]; digest?: boolean };
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
  /** qemu, kubevirt: QEMU's max-bandwidth, bytes/s (default QEMU's 128 MiB/s; Infinity: unlimited, as libvirt sets it). */
  maxBandwidth?: number;
  /** qemu, kubevirt: avail-switchover-bandwidth, bytes/s (0: the measured bandwidth). */
  availSwitchoverBandwidth?: number;
  /** qemu, kubevirt: vcpu-dirty-limit, bytes/s per vCPU (0 or absent: no dirty-limit). */
  dirtyLimit?: number;
  /** vCPUs for dirty-limit (default: the workload's `vcpus` parameter, else 1). */
  vcpus?: number;
  /** With auto-converge: QEMU 9.2's forced bitmap sync every 5 s (default on). */
  periodicSync?: boolean;
  /** Seconds frozen per pre-dump besides memory (default: CRIU_FIXED_COSTS for phaul, go-phaul, fixed; 0 otherwise). */
  predumpCost?: number;
  /** Seconds added to the final dump's frozen time besides memory (default: CRIU_FIXED_COSTS for CRIU, 0 for QEMU). */
  switchoverCost?: number;
  /** kubevirt: the monitor's settings over KUBEVIRT_DEFAULTS. */
  kubevirt?: KubevirtSettings;
  onIteration?: (stats: IterationStats, phase: 'start' | 'done') => void;
  /** Called at each crash point of each iteration (CRASH_POINTS); tests inject faults here. */
  faultPoint?: (iteration: number, point: string) => void;
  /** Checked at every safe point: once aborted, the dump removes the partial iteration and throws InterruptedError. */
  signal?: CancelSignal;
  /** Who locks the images directory (default: this process, from /proc/self). */
  lockOwner?: LockOwner;
  /**
   * How iterations find the pages to copy (src/criu/track.ts). Default: soft-dirty where the kernel
   * has it, else one full dump. A backend the kernel lacks is refused (UsageError, exit 2).
   */
  track?: TrackBackend;
  /** Count each iteration's false positives against the truly written set (tracker plan --track). */
  truth?: boolean;
}

export interface KubevirtSettings {
  completionTimeoutPerGiB?: number;
  progressTimeout?: number;
  allowPostCopy?: boolean;
  allowWorkloadDisruption?: boolean;
  maxDowntimeMs?: number;
  /** VEP 291 (null or absent: off). */
  downtimeTuning?: DowntimeTuning | null;
  /** VEP 248 (null or absent: off). */
  stallDetection?: StallDetection | null;
  /** The VM's size for completionTimeoutPerGiB, bytes (default: the workload's resident memory when the migration starts). */
  vmBytes?: number;
}

/** The fixed costs an iteration of `policy` pays. */
export function fixedCosts(o: Pick<IterativeDumpOptions, 'policy' | 'predumpCost' | 'switchoverCost'>): FixedCosts {
  const base = isCriuDriven(o.policy) ? CRIU_FIXED_COSTS : NO_FIXED_COSTS;
  return { preDump: o.predumpCost ?? base.preDump, switchover: o.switchoverCost ?? base.switchover };
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
  /** Pages copied that nothing wrote since the iteration before (null: not counted, or the first). */
  false_positives: number | null;
  /** Downtime if the final dump came next: dirty bytes / bandwidth (QEMU's expected-downtime). */
  expected_downtime_s: number;
  /** Percentage of the time the workload was throttled during this iteration (auto-converge). */
  throttle_pct: number;
  note: string | null;
  /** qemu, kubevirt: pages pending when the pass began (unsent before the sync and new), and sent during it. */
  pages_pending?: number;
  pages_sent?: number;
  /** qemu, kubevirt: the downtime limit in force when the pass began. */
  downtime_limit_s?: number;
}

export interface DumpReport {
  images_dir: string;
  workload: { model: string; source: string; seed: number };
  kernel: KernelProfileName;
  dirty_tracking: boolean;
  /** The tracking backend (--track). */
  track: TrackBackend;
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
  /** converged, not converged, or what KubeVirt did instead: post-copy, paused, aborted. */
  outcome: 'converged' | 'not converged' | 'post-copy' | 'paused' | 'aborted';
  /** kubevirt: what the monitor did, and when (virtual seconds). */
  actions: { at_s: number; kind: MonitorAction['kind']; seconds?: number; why: string }[];
  /** The first iteration whose pages did not shrink by 5 % from the one before (null: never). */
  plateau_iteration: number | null;
  iterations: IterationReport[];
  totals: { pages_written: number; bytes_written: number; pages_skipped_parent: number; frozen_time: number; false_positives: number | null };
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

/** What CRIU's loop and QEMU's loop pass alike to dumpIteration for iteration `it`. */
function iterationOptions(
  o: IterativeDumpOptions,
  it: number,
  type: 'pre-dump' | 'dump',
  track: TrackBackend,
  dt: ReturnType<typeof kerndat>,
  link: PageServerLink | null,
  counting: ReturnType<typeof openCountingXfer> | undefined,
): Omit<DumpIterationOptions, 'trackMem'> {
  const fault = (point: string) => o.faultPoint?.(it, point);
  return {
    imagesRoot: o.imagesDir,
    iteration: it,
    type,
    hasParent: it > 1,
    format: dt.pagemapFormat,
    softDirty: dt.softDirty,
    track,
    kernelName: o.kernel,
    faultPoint: fault,
    compressRegion: o.compressRegion,
    autoDedup: o.autoDedup,
    xfer: counting ?? link?.open(it, fault),
    // Under plan nobody reads the final digest, unless asked for.
    digest: counting === undefined || o.count!.digest === true,
  };
}

/**
 * The images directory is locked for the whole dump. A safe point (each iteration's start, each
 * crash point) checks `signal`; on any failure the partial .N.tmp is removed, the lock released,
 * and a -D tracker created and left empty removed. Without soft-dirty tracking there are no
 * pre-dumps, one full dump: P.Haul's rule when the kernel cannot track memory.
 */
export function iterativeDump(o: IterativeDumpOptions): DumpReport {
  const slow = bandwidthProblem(o.bandwidth);
  if (slow !== null) throw new UsageError(`bandwidth ${o.bandwidth} bytes/s: ${slow}`);
  // With a page server, the server prepares and locks its own -D; counting writes nothing.
  const images = o.pageServer !== undefined || o.count !== undefined ? null : prepareImagesRoot(o.imagesDir, o.force, o.lockOwner);
  let current = 1;
  const check = () => {
    if (o.signal?.aborted === true) throw new InterruptedError(interruptedMessage(current));
  };
  try {
    const probe = new Kernel({ profile: o.kernel, memoryBytes: 16 << 20 });
    if (o.track !== undefined) {
      const why = trackUnsupported(probe, o.track);
      if (why !== null) throw new UsageError(`--track ${o.track}: ${why}`);
    }
    const tracked = o.track !== undefined || kerndatSoftDirty(probe);
    const r = dumpLoop({
      ...o,
      track: o.track ?? (tracked ? 'soft-dirty' : 'none'),
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
  const counts = o.count === undefined ? undefined : [o.count.iterations];
  return dumpRows(o, [o.policy], counts)[0];
}

/**
 * `tracker plan`'s rows that differ only in their policy, in one run when they are CRIU-driven: each sees the same
 * pre-dumps until it decides to stop, so they are made once; a policy that stops gets its final
 * dump from the state the others go on from (the final dump then leaves the soft-dirty bits
 * alone). Each report is what iterativeDump() gives for that policy alone. No images are written:
 * each iteration goes to a counting page-xfer (`keep`: with its pagemaps, for heat maps).
 */
export function countedDumps(o: Omit<IterativeDumpOptions, 'imagesDir' | 'force' | 'count'>, policies: PolicyName[], keep: boolean): { report: DumpReport; counted: CountedIteration[] }[] {
  // Only CRIU-driven policies (phaul, go-phaul, fixed) run the same pre-dumps with the same fixed
  // costs; QEMU's engines and qemu-pass decide differently or pay other costs: each runs alone.
  const groups: number[][] = [];
  const shared: number[] = [];
  policies.forEach((p, i) => (isCriuDriven(p) ? shared.push(i) : groups.push([i])));
  if (shared.length > 0) groups.unshift(shared);
  const out: { report: DumpReport; counted: CountedIteration[] }[] = new Array(policies.length);
  for (const g of groups) {
    const counts = g.map(() => [] as CountedIteration[]);
    const reports = dumpRows({ ...o, imagesDir: '', force: false, count: { keep, iterations: [] } }, g.map((i) => policies[i]), counts);
    g.forEach((i, k) => (out[i] = { report: reports[k], counted: counts[k] }));
  }
  return out;
}

/** One policy's way through dumpRows(). */
interface Row {
  name: PolicyName;
  policy: PolicyOptions;
  all: IterationReport[];
  written: number[];
  stop: string;
  converged: boolean;
  plateau: number | null;
  /** Clock and steps at its end (-1 while it goes on). */
  end: number;
  steps: number;
  counted: CountedIteration[] | undefined;
}

function dumpRows(o: IterativeDumpOptions, policies: PolicyName[], counts: CountedIteration[][] | undefined): DumpReport[] {
  // With a page server the images go there (its -D); nothing is written locally.
  const link = o.pageServer !== undefined ? new PageServerLink(o.pageServer, { force: o.force, autoDedup: o.autoDedup === true }) : null;
  const overrides = { ...o.params, ...(o.rate === undefined ? {} : { rate: o.rate }) };
  checkFits(o.workload, overrides, o.memoryModel ?? 'content');
  const memoryBytes = o.memoryBytes ?? workloadMemoryNeed(o.workload, overrides) ?? undefined;
  const kernel = new Kernel({ profile: o.kernel, memoryBytes, memoryModel: o.memoryModel });
  const dt = kerndat(kernel);
  const track: TrackBackend = o.track ?? (dt.softDirty ? 'soft-dirty' : 'none');
  const tracking = trackIncremental(track);
  let warning = dt.softDirty || o.track !== undefined ? null : `kernel profile '${o.kernel}' has no soft-dirty tracking: every iteration is a full dump`;
  const proc = createWorkload(kernel, o.workload, o.seed, overrides);
  proc.fast = o.fast === true;
  const clock = new WorkloadClock(proc);
  const interval: Duration = typeof o.interval === 'number' ? { steps: o.interval } : o.interval;
  const rows: Row[] = policies.map((name, i) => ({
    name,
    policy: { policy: name, iterations: o.iterations, maxIters: resolvedMaxIters({ ...o, policy: name }), minPages: o.minPages, maxGrowthPercent: o.maxGrowthPercent, downtimeLimit: o.downtimeLimit, bandwidth: o.bandwidth },
    all: [],
    written: [],
    stop: '',
    converged: false,
    plateau: null,
    end: -1,
    steps: 0,
    counted: counts?.[i],
  }));
  const single = rows.length === 1;
  const throttle = o.autoConverge === true ? new AutoConverge() : null;
  const words = new Uint32Array(4096 * 2);
  // The rows of one run share their pre-dumps: the same loop and the same fixed costs (countedDumps groups them so).
  const costs = fixedCosts({ ...o, policy: policies[0] });
  if (!single && policies.some((p) => !isCriuDriven(p))) throw new Error(`dumpRows: only CRIU-driven policies share pre-dumps, got ${policies.join(', ')}`);
  let engine: QemuIterations | null = null;
  try {
    // A migration starts from a running service: setup and populate are over, and the service
    // has run one --interval (as each later iteration has); time counts from the first freeze.
    // Long runs (a big populate, an --interval, a copy at a slow link) look at the signal as they go.
    let between = 0;
    clock.check = () => {
      if (o.signal?.aborted === true) throw new InterruptedError(interruptedMessage(between + 1));
    };
    runChecked(proc, proc.warmUpSteps ?? 0, clock.check);
    clock.run(interval);
    clock.now = 0;
    let truth: PageSet | null = null;
    // Op scripts and traces have no setup phase: with no --interval they would be dumped before their first line.
    if (proc.steps === 0) warning = `the workload had not run when the first pre-dump froze it (${proc.identity.model} has no setup phase): give --interval, e.g. --interval 10ms, to let it run first`;
    if (isQemuEngine(rows[0].name)) {
      // QEMU's loop (qemu, kubevirt): always a row of its own.
      const row = rows[0];
      const q = qemuIterations({ ...o, policy: row.name }, proc, clock, dt, track, link, row.policy.maxIters, row.counted);
      row.all.push(...q.iterations);
      row.stop = q.reason;
      row.converged = q.outcome === 'converged';
      row.end = q.total_time_s;
      row.steps = proc.steps;
      engine = q;
    }
    for (let it = 1; ; it++) {
      const active = rows.filter((r) => r.end < 0);
      if (active.length === 0) break;
      // The rows still going have made the same pre-dumps: the last one is the same for all.
      const prev = active[0].all[active[0].all.length - 1];
      let dirty = 0;
      if (prev !== undefined) {
        clock.run(interval);
        // What the next dump would write: what the backend reports, or all resident pages without tracking.
        dirty =
          track === 'soft-dirty' || track === 'pagemap-scan'
            ? countSoftDirty(proc.task.mm, words, dt.pagemapFormat, dt.zeroPagePfn)
            : tracking || track === 'mincore'
              ? pendingPages(proc, track, dt.pagemapFormat, dt.zeroPagePfn, readMaps(proc.task))
              : proc.task.mm.rssPages();
        for (const r of active) {
          const p = r.all[r.all.length - 1];
          p.dirty_pages_after = dirty;
          p.expected_downtime_s = transferSeconds(dirty, o.bandwidth);
        }
        if (throttle !== null) clock.throttlePct = throttle.check(dirty * PAGE_SIZE, prev.bytes_written);
      }
      // The final dump's pagemap read takes about as long as the last one did.
      const scanS = prev === undefined ? 0 : prev.memdump_time / 1e6;
      const decisions = active.map((r) => decide(r.policy, { iteration: it, written: r.written, dirtyPages: dirty, scanSeconds: scanS }));
      const finals = active.filter((_, i) => decisions[i].final);
      const goOn = active.filter((_, i) => !decisions[i].final);
      finals.forEach((r) => {
        const d = decisions[active.indexOf(r)];
        r.stop = d.reason;
        r.converged = d.converged;
      });
      for (const [type, group] of [['dump', finals], ['pre-dump', goOn]] as const) {
        if (group.length === 0) continue;
        const final = type === 'dump';
        if (single) o.onIteration?.({ iteration: it, type } as IterationStats, 'start');
        const start = clock.now;
        const counting = o.count === undefined ? undefined : openCountingXfer(o.count.keep);
        if (counting !== undefined) for (const r of group) r.counted?.push(counting.counted);
        const r = dumpIteration(proc, {
          ...iterationOptions(o, it, type, track, dt, link, counting),
          trackMem: tracking,
          truth,
          timing: dumpTiming({ preDumpMode: o.preDumpMode, bandwidth: o.bandwidth, rate: clock.rate, costs }),
          // Other rows pre-dump from this same state next.
          keepRefs: final && goOn.length > 0,
        });
        const s = r.stats;
        // The truly written set restarts at the freeze: what runs from now on is the next iteration's
        // (a final dump's rows end, so only the pre-dump group restarts it).
        if (o.truth === true && !final) {
          proc.task.mm.resetWritten();
          truth = proc.task.mm.written;
        }
        // Frozen: as CRIU's stats say (µs); running: while the pages leave, exactly.
        const frozen = s.frozen_time / 1e6;
        const t = iterationSeconds({ final, preDumpMode: o.preDumpMode, bandwidth: o.bandwidth, pagemapPages: 0, pagesWritten: s.pages_written, costs });
        // A final dump ends its rows: the shared clock and process go on for the others.
        const now = clock.now + frozen + t.running_s;
        if (!final) {
          clock.wait(frozen);
          // The workload runs on while the pages leave; what it writes is dirty for the next one.
          between = it;
          runChecked(proc, s.steps_during_copy, clock.check);
          clock.wait(t.running_s);
        }
        for (const row of group) {
          const last = row.all[row.all.length - 1];
          let note: string | null = null;
          if (row.plateau === null && last !== undefined && it > 2 && s.pages_written >= PLATEAU * last.pages_written) {
            row.plateau = it;
            note = `the dirty set stopped shrinking (${s.pages_written} pages after ${last.pages_written}): later pre-dumps gain nothing`;
          }
          const rep: IterationReport = {
            ...s,
            start_s: start,
            duration_s: now - start,
            frozen_s: frozen,
            running_s: t.running_s,
            dirty_pages_after: null,
            false_positives: r.falsePositives,
            expected_downtime_s: final ? frozen : transferSeconds(s.pages_written, o.bandwidth),
            throttle_pct: clock.throttlePct,
            note,
          };
          row.all.push(rep);
          if (final) {
            row.end = now;
            row.steps = proc.steps;
          } else row.written.push(s.pages_written);
          if (single) o.onIteration?.(rep, 'done');
        }
      }
    }
    link?.close();
  } catch (e) {
    link?.destroy();
    if (e instanceof OutOfMemory) throw new ResourceError('the emulated machine ran out of memory; use a smaller workload');
    throw e;
  }
  kernel.exit(proc.task);
  return rows.map((row) => {
    const all = row.all;
    const sum = (k: 'pages_written' | 'bytes_written' | 'pages_skipped_parent' | 'frozen_time') => all.reduce((a, s) => a + s[k], 0);
    const last = all[all.length - 1];
    return {
      images_dir: o.pageServer !== undefined ? `page-server ${o.pageServer.address}:${o.pageServer.port}` : o.imagesDir,
      workload: { model: proc.identity.model, source: proc.identity.source, seed: proc.identity.seed },
      kernel: o.kernel,
      dirty_tracking: tracking,
      track,
      warning,
      policy: row.name,
      bandwidth: o.bandwidth,
      rate: clock.baseRate,
      interval_s: durationSeconds(interval, clock.baseRate),
      downtime_limit_s: o.downtimeLimit,
      stop_reason: row.stop,
      converged: row.converged,
      outcome: engine !== null ? (engine.outcome === 'bound' ? 'not converged' : engine.outcome) : row.converged ? 'converged' : 'not converged',
      actions: engine?.actions ?? [],
      plateau_iteration: row.plateau,
      iterations: all,
      totals: {
        pages_written: sum('pages_written'),
        bytes_written: sum('bytes_written'),
        pages_skipped_parent: sum('pages_skipped_parent'),
        frozen_time: sum('frozen_time'),
        false_positives: o.truth === true ? all.reduce((a, s) => a + (s.false_positives ?? 0), 0) : null,
      },
      // Shared memory's pages leave with the others (CRIU pre-dumps it too).
      bytes_sent: engine?.bytes_sent ?? all.reduce((a, i) => a + i.bytes_written + (i.shpages_written ?? 0) * PAGE_SIZE, 0),
      downtime_s: engine?.downtime_s ?? last.frozen_s,
      total_time_s: engine?.total_time_s ?? row.end,
      final_frozen_time: last.frozen_time,
      memory_digest_steps: row.steps,
    };
  });
}

interface QemuIterations {
  iterations: IterationReport[];
  outcome: QemuOutcome;
  reason: string;
  actions: DumpReport['actions'];
  bytes_sent: number;
  downtime_s: number;
  total_time_s: number;
}

/** qemu and kubevirt: QEMU's loop on the process, each bitmap sync an iteration of the chain. */
function qemuIterations(
  o: IterativeDumpOptions,
  proc: ReturnType<typeof createWorkload>,
  clock: WorkloadClock,
  dt: ReturnType<typeof kerndat>,
  track: TrackBackend,
  link: PageServerLink | null,
  maxIters: number,
  counted: CountedIteration[] | undefined,
): QemuIterations {
  // QEMU's dirty log is read here as the soft-dirty bits (qemu-dump.ts): the backends that clear and read them.
  if (track !== 'soft-dirty' && track !== 'pagemap-scan') throw new UsageError(`--policy ${o.policy} reads QEMU's dirty log as soft-dirty bits: use --track soft-dirty or pagemap-scan with it, not ${track}`);
  const vcpusParam = proc.identity.params.vcpus;
  const vcpus = o.vcpus ?? (typeof vcpusParam === 'number' && vcpusParam > 0 ? vcpusParam : 1);
  let controller: KubevirtMonitor | undefined;
  if (o.policy === 'kubevirt') {
    const k = o.kubevirt ?? {};
    controller = new KubevirtMonitor({
      vmBytes: k.vmBytes ?? proc.task.mm.rssPages() * PAGE_SIZE,
      completionTimeoutPerGiB: k.completionTimeoutPerGiB ?? KUBEVIRT_DEFAULTS.completionTimeoutPerGiB,
      progressTimeout: k.progressTimeout ?? KUBEVIRT_DEFAULTS.progressTimeout,
      allowPostCopy: k.allowPostCopy ?? false,
      allowWorkloadDisruption: k.allowWorkloadDisruption ?? false,
      maxDowntimeMs: k.maxDowntimeMs ?? KUBEVIRT_DEFAULTS.maxDowntimeMs,
      downtimeTuning: k.downtimeTuning ?? null,
      stallDetection: k.stallDetection ?? null,
    });
  }
  const costs = fixedCosts(o);
  let current = 1;
  const stop = () => {
    if (o.signal?.aborted === true) throw new InterruptedError(interruptedMessage(current));
  };
  clock.check = stop;
  const { result, syncs } = qemuDump(
    {
      mm: proc.task.mm,
      clock,
      format: dt.pagemapFormat,
      zeroPagePfn: dt.zeroPagePfn,
      onStart: (s) => o.onIteration?.(s, 'start'),
      // A pass can last minutes of virtual time between syncs: look at the signal at every chunk,
      // and (clock.check) within a chunk's run, naming the iteration under way.
      check: (it) => {
        current = it;
        stop();
      },
      dump: (it, type) => {
        // Under plan: a counting page-xfer, nothing written (as for the CRIU-driven rows).
        const counting = o.count === undefined ? undefined : openCountingXfer(o.count.keep);
        if (counting !== undefined) counted?.push(counting.counted);
        return dumpIteration(proc, { ...iterationOptions(o, it, type, track, dt, link, counting), trackMem: trackIncremental(track) });
      },
    },
    {
      bandwidth: o.bandwidth,
      // QEMU's own default; libvirt (under KubeVirt) sets it unlimited.
      maxBandwidth: o.maxBandwidth ?? (o.policy === 'kubevirt' ? Infinity : QEMU_DEFAULTS.maxBandwidth),
      availSwitchoverBandwidth: o.availSwitchoverBandwidth ?? 0,
      downtimeLimit: o.downtimeLimit,
      autoConverge: o.autoConverge === true,
      periodicSync: o.periodicSync ?? true,
      dirtyLimit: o.dirtyLimit ?? 0,
      vcpus,
      throttleInitial: QEMU_DEFAULTS.throttleInitial,
      throttleIncrement: QEMU_DEFAULTS.throttleIncrement,
      throttleMax: QEMU_DEFAULTS.throttleMax,
      throttleTriggerPercent: QEMU_DEFAULTS.throttleTriggerPercent,
      maxIters,
      switchoverCost: costs.switchover,
      controller,
    },
  );
  const iterations: IterationReport[] = syncs.map(({ result: r, pass }, k) => {
    const s = r.stats;
    if (pass !== null) {
      const rep: IterationReport = {
        ...s,
        start_s: pass.start_s,
        duration_s: pass.end_s - pass.start_s,
        frozen_s: 0,
        running_s: pass.end_s - pass.start_s,
        dirty_pages_after: syncs[k + 1]?.pass?.pages_new ?? null,
        false_positives: null,
        expected_downtime_s: (pass.pages_pending * PAGE_SIZE) / o.bandwidth,
        throttle_pct: pass.throttle_pct,
        note: pass.cause === 'setup' ? null : pass.cause,
        pages_pending: pass.pages_pending,
        pages_sent: pass.pages_sent,
        downtime_limit_s: pass.downtime_limit_s,
      };
      o.onIteration?.(rep, 'done');
      return rep;
    }
    // The final dump: the VM stopped (or, in post-copy, stopped for its device state only).
    const start = syncs[k - 1]?.pass?.end_s ?? 0;
    const frozen = result.downtime_s;
    const rep: IterationReport = {
      ...s,
      frozen_time: Math.round(frozen * 1e6),
      memdump_time: Math.round(frozen * 1e6),
      memwrite_time: Math.round(((result.final_pages * PAGE_SIZE) / o.bandwidth) * 1e6),
      start_s: start,
      duration_s: result.total_time_s - start,
      frozen_s: frozen,
      running_s: result.total_time_s - start - frozen,
      dirty_pages_after: null,
      false_positives: null,
      expected_downtime_s: frozen,
      throttle_pct: result.throttle_pct,
      note: result.outcome === 'post-copy' ? `post-copy: ${result.postcopy_s.toFixed(3)} s on the destination while the rest is pulled` : null,
      pages_pending: result.final_pages,
      pages_sent: result.final_pages,
      downtime_limit_s: o.downtimeLimit,
    };
    o.onIteration?.(rep, 'done');
    return rep;
  });
  return {
    iterations,
    outcome: result.outcome,
    reason: result.reason,
    actions: result.actions.map((a) => ({ at_s: a.at_s, kind: a.action.kind, ...(a.action.kind === 'set-downtime' ? { seconds: a.action.seconds } : {}), why: a.action.why })),
    bytes_sent: result.bytes_sent,
    downtime_s: result.downtime_s,
    total_time_s: result.total_time_s,
  };
}
