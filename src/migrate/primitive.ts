/**
 * The primitive commands a user scripts a loop with, as with CRIU:
 *
 *   tracker pre-dump -D DIR/1 --track-mem
 *   tracker pre-dump -D DIR/2 --prev-images-dir ../1 --track-mem
 *   tracker dump     -D DIR/3 --prev-images-dir ../2 --track-mem
 *
 * A real process lives on between these commands; the simulated one lives inside one tracker run.
 * Workloads are deterministic, so each command brings the process back by replaying it: the same
 * workload and seed, run to the step of each parent iteration, with clear_refs 4 written where that
 * iteration wrote it. The MMU state (pages, soft-dirty bits) is then exactly what it was, and the
 * command runs --interval more steps and dumps.
 */
import { basename, dirname, resolve } from 'node:path';
import { ImageError, InterruptedError, UsageError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import { isKernelProfileName, type KernelProfileName } from '../mm/kernel-profile.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { kerndat } from '../proc/kerndat.js';
import { canonicalSpec, createWorkload, modelOverrides, runChecked, workloadMemoryNeed, workloadRate } from '../workload/index.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { prepareIterationDir, type LockOwner } from '../criu/images-dir.js';
import type { CancelSignal } from './iterative.js';
import { dumpIteration } from '../criu/mem-dump.js';
import { collectTracked, isTrackBackend, trackUnsupported, type TrackBackend } from '../criu/track.js';
import { readMaps } from '../proc/vma-list.js';
import { openChain, type ChainLink } from '../criu/page-read.js';
import type { IterationStats } from '../criu/schema.js';
import { OPTIONS } from './options.js';
import { CRIU_FIXED_COSTS, dumpTiming } from './timing.js';

export interface PrimitiveDumpOptions {
  /** This iteration's directory. */
  imagesDir: string;
  /** The parent iteration, relative to imagesDir's parent as CRIU takes it (e.g. ../1). */
  prevImagesDir?: string;
  trackMem: boolean;
  type: 'pre-dump' | 'dump';
  /** Required without a parent; with one they default to the parent's and must agree with it. */
  workload?: string;
  seed?: number;
  /** Model parameters (--param), first iteration only: later ones replay the parent's. */
  params?: Record<string, unknown>;
  /** How frames hold their contents, first iteration only: later ones take the parent's. */
  memoryModel?: MemoryModel;
  kernel?: KernelProfileName;
  interval: number;
  bandwidth: number;
  /** CRIU's fixed costs, seconds (default CRIU_FIXED_COSTS): a pre-dump's and the dump's besides memory. */
  predumpCost?: number;
  switchoverCost?: number;
  force: boolean;
  memoryBytes?: number;
  /** As for iterativeDump: crash points, cancellation, the lock's owner. */
  faultPoint?: (iteration: number, point: string) => void;
  signal?: CancelSignal;
  lockOwner?: LockOwner;
  compressRegion?: number;
  autoDedup?: boolean;
  /** The tracking backend; default: the parent's, or soft-dirty (none without it). */
  track?: TrackBackend;
}

export interface PrimitiveDumpReport {
  images_dir: string;
  parent: string | null;
  replayed_steps: number;
  stats: IterationStats;
}

export function primitiveDump(o: PrimitiveDumpOptions): PrimitiveDumpReport {
  const dir = resolve(o.imagesDir);
  const root = dirname(dir);
  let workload = o.workload;
  let seed = o.seed;
  let kernelName = o.kernel;
  let params = o.params ?? {};
  let memoryModel = o.memoryModel ?? 'content';
  let chain: ChainLink[] = [];
  if (o.prevImagesDir !== undefined) {
    if (o.prevImagesDir.startsWith('/')) throw new UsageError('--prev-images-dir must be relative to the images directory (e.g. ../1), as CRIU takes it');
    const parentDir = resolve(dir, o.prevImagesDir);
    if (dirname(parentDir) !== root) throw new UsageError(`--prev-images-dir ${o.prevImagesDir} must name a sibling of ${o.imagesDir} (e.g. ../1)`);
    chain = openChain(parentDir).links;
    const inv = chain[chain.length - 1].inventory;
    if (inv.type === 'dump') throw new UsageError(`${o.prevImagesDir} is a final dump: its process was killed; pre-dump and dump after a pre-dump`);
    const id = inv.workload;
    const agree = (flag: string, given: unknown, recorded: unknown) => {
      if (given !== undefined && given !== recorded) throw new UsageError(`${flag} ${String(given)} differs from the parent's ${String(recorded)}; leave it out to continue the same process`);
    };
    agree('--seed', seed, id.seed);
    agree('--kernel', kernelName, inv.kernel);
    if (workload !== undefined && canonicalSpec(workload) !== id.spec) throw new UsageError(`--workload ${workload} differs from the parent's ${id.spec ?? id.source}; leave it out to continue the same process`);
    if (Object.keys(params).length > 0) throw new UsageError('--param goes with the first iteration; later ones replay the parent\'s parameters');
    workload = id.spec ?? id.source;
    params = modelOverrides(id);
    if (o.memoryModel !== undefined && o.memoryModel !== (inv.memoryModel ?? 'content')) throw new UsageError(`--memory-model ${o.memoryModel} differs from the parent's ${inv.memoryModel ?? 'content'}; leave it out to continue the same process`);
    memoryModel = inv.memoryModel ?? 'content';
    seed = id.seed;
    if (!isKernelProfileName(inv.kernel)) throw new ImageError(`${o.prevImagesDir}: unknown kernel profile '${inv.kernel}'`);
    kernelName = inv.kernel;
  }
  if (workload === undefined) throw new UsageError('the first iteration needs --workload (later ones take it from --prev-images-dir)');
  const images = prepareIterationDir(root, basename(dir), o.force, o.imagesDir, o.lockOwner);
  const iteration = chain.length === 0 ? 1 : chain[chain.length - 1].inventory.iteration + 1;
  const check = () => {
    if (o.signal?.aborted === true) throw new InterruptedError(`interrupted in iteration ${iteration} (${o.imagesDir}); nothing of it was kept`);
  };
  try {
    const r = replayAndDump(o, chain, { root, dir, iteration, workload, seed, params, memoryModel, kernelName, check });
    images.release();
    return r;
  } catch (e) {
    images.abandon(basename(dir));
    throw e;
  }
}

interface Resolved {
  root: string;
  dir: string;
  iteration: number;
  workload: string;
  seed: number | undefined;
  params: Record<string, unknown>;
  memoryModel: MemoryModel;
  kernelName: KernelProfileName | undefined;
  check: () => void;
}

function replayAndDump(o: PrimitiveDumpOptions, chain: ChainLink[], { root, dir, iteration, workload, seed, params, memoryModel, kernelName, check }: Resolved): PrimitiveDumpReport {
  const kernel = new Kernel({ profile: kernelName ?? '6.1', memoryBytes: o.memoryBytes ?? workloadMemoryNeed(workload, params) ?? undefined, memoryModel });
  const dt = kerndat(kernel);
  const parentTrack = chain.length > 0 ? (chain[chain.length - 1].inventory.track ?? 'soft-dirty') : undefined;
  if (o.track !== undefined && parentTrack !== undefined && o.track !== parentTrack) {
    throw new UsageError(`--track ${o.track} differs from the parent's ${parentTrack}; a chain keeps one tracking backend`);
  }
  const track: TrackBackend | undefined = o.track ?? (parentTrack !== undefined && isTrackBackend(parentTrack) ? parentTrack : undefined);
  if (track !== undefined) {
    const why = trackUnsupported(kernel, track);
    if (why !== null) throw new UsageError(`--track ${track}: ${why}`);
  }
  if (o.trackMem && track === undefined && !dt.softDirty) throw new UsageError(`--track-mem: kernel profile '${kernelName}' has no soft-dirty tracking; leave --track-mem out for full dumps`);
  const proc = createWorkload(kernel, workload, seed ?? OPTIONS.seed.default, params);
  // Replay: the same steps, and each parent's reset where it made it (clear_refs 4, or the uffd-wp
  // scan that protected the pages again).
  for (const link of chain) {
    const stats = link.stats;
    // inventory.steps is where the parent froze the process; it then ran steps_during_copy more.
    runChecked(proc, link.inventory.steps - proc.steps, check);
    if (link.inventory.clearedRefs) clearRefsWrite(proc.task.mm, '4');
    if (link.inventory.track === 'uffd-wp') {
      collectTracked(proc, readMaps(proc.task), 'uffd-wp', false, dt.pagemapFormat, dt.zeroPagePfn);
    }
    runChecked(proc, stats.steps_during_copy ?? 0, check);
    check();
  }
  // The first iteration finds a running service: setup and populate are over (as dump --iterative).
  if (chain.length === 0) runChecked(proc, proc.warmUpSteps ?? 0, check);
  const replayed = proc.steps;
  runChecked(proc, o.interval, check);
  check();
  const r = dumpIteration(proc, {
    imagesRoot: root,
    dirName: basename(dir),
    parentRef: o.prevImagesDir,
    iteration,
    type: o.type,
    trackMem: o.trackMem,
    hasParent: chain.length > 0,
    format: dt.pagemapFormat,
    softDirty: dt.softDirty,
    track,
    // A scripted pre-dump has no --pre-dump-mode (CRIU's default, splice).
    timing: dumpTiming({ preDumpMode: OPTIONS.preDumpMode.default, bandwidth: o.bandwidth, rate: workloadRate(proc), costs: { preDump: o.predumpCost ?? CRIU_FIXED_COSTS.preDump, switchover: o.switchoverCost ?? CRIU_FIXED_COSTS.switchover } }),
    kernelName: kernelName ?? '6.1',
    faultPoint: (point) => {
      o.faultPoint?.(iteration, point);
      check();
    },
    compressRegion: o.compressRegion,
    autoDedup: o.autoDedup,
  });
  // The process would run on for steps_during_copy; the next command's replay runs them instead.
  kernel.exit(proc.task);
  return { images_dir: o.imagesDir, parent: o.prevImagesDir ?? null, replayed_steps: replayed, stats: r.stats };
}

