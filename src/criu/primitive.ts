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
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { ImageError, UsageError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import { isKernelProfileName, type KernelProfileName } from '../mm/kernel-profile.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { kerndat } from '../proc/kerndat.js';
import { createWorkload } from '../workload/index.js';
import { dumpIteration } from './mem-dump.js';
import { openChain, type ChainLink } from './page-read.js';
import type { IterationStats } from './schema.js';

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
  kernel?: KernelProfileName;
  interval: number;
  bandwidth: number;
  force: boolean;
  memoryBytes?: number;
  compressRegion?: number;
  autoDedup?: boolean;
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
    if (workload !== undefined && resolveSpec(workload) !== id.spec) throw new UsageError(`--workload ${workload} differs from the parent's ${id.spec ?? id.source}; leave it out to continue the same process`);
    workload = id.spec ?? id.source;
    seed = id.seed;
    if (!isKernelProfileName(inv.kernel)) throw new ImageError(`${o.prevImagesDir}: unknown kernel profile '${inv.kernel}'`);
    kernelName = inv.kernel;
  }
  if (workload === undefined) throw new UsageError('the first iteration needs --workload (later ones take it from --prev-images-dir)');
  if (existsSync(dir)) {
    if (!o.force) throw new UsageError(`${o.imagesDir} already exists; pass --force to replace it, or choose a new directory for this iteration`);
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    mkdirSync(root, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create images directory ${root}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const kernel = new Kernel({ profile: kernelName ?? '6.1', memoryBytes: o.memoryBytes });
  const dt = kerndat(kernel);
  if (o.trackMem && !dt.softDirty) throw new UsageError(`--track-mem: kernel profile '${kernelName}' has no soft-dirty tracking; leave --track-mem out for full dumps`);
  const proc = createWorkload(kernel, workload, seed ?? 1);
  // Replay: the same steps, and clear_refs 4 where each parent iteration wrote it.
  for (const link of chain) {
    const stats = link.stats;
    // inventory.steps is where the parent froze the process; it then ran steps_during_copy more.
    proc.run(link.inventory.steps - proc.steps);
    if (link.inventory.clearedRefs) clearRefsWrite(proc.task.mm, '4');
    proc.run(stats.steps_during_copy ?? 0);
  }
  const replayed = proc.steps;
  proc.run(o.interval);
  const iteration = chain.length === 0 ? 1 : chain[chain.length - 1].inventory.iteration + 1;
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
    preDumpMode: 'splice',
    bandwidth: o.bandwidth,
    kernelName: kernelName ?? '6.1',
    compressRegion: o.compressRegion,
    autoDedup: o.autoDedup,
  });
  // The process would run on for steps_during_copy; the next command's replay runs them instead.
  kernel.exit(proc.task);
  return { images_dir: o.imagesDir, parent: o.prevImagesDir ?? null, replayed_steps: replayed, stats: r.stats };
}

function resolveSpec(spec: string): string {
  return spec.endsWith('.json') || spec.endsWith('.ops') || spec.endsWith('.gz') || spec.endsWith('.lackey') ? resolve(spec) : spec;
}
