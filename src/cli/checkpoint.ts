/** `tracker dump` and `tracker restore`. */
import chalk from 'chalk';
import { Command, InvalidArgumentError, Option } from 'commander';
import ora, { type Ora } from 'ora';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type DumpReport } from '../criu/iterative.js';
import { checkReport, type CheckReport } from '../criu/page-read.js';
import { resolveIterationDir } from '../criu/stats.js';
import { primitiveDump, type PrimitiveDumpReport } from '../criu/primitive.js';
import { restore, type RestoreReport } from '../criu/restore.js';
import type { IterationStats } from '../criu/schema.js';
import { UsageError } from '../errors.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { DEFAULT_MEMORY_BYTES } from '../mm/kernel.js';
import { DEFAULT_WORKLOAD } from '../workload/index.js';
import { EXIT_CODES_HELP, intArg, kernelOption } from './main.js';
import { processOutput, type Output } from './output.js';
import { formatBytes, formatUs, parseBytes } from './units.js';
import { addImageOptions, imageOptions, type ImageFlags } from './image-options.js';
import { addPageServerClientOptions, pageServerTarget, type TlsFlags } from './page-server.js';

export const DEFAULT_IMAGES_DIR = 'tracker-images';

/** --memory: a size the emulated machine can have (4 MiB to 4 GiB). */
export function memorySize(v: string): number {
  const n = parseBytes('--memory')(v);
  if (n < 4 * 1024 * 1024 || n > 4 * 1024 ** 3) throw new InvalidArgumentError(`--memory must be between 4M and 4G, got '${v}'`);
  return Math.min(n, DEFAULT_MEMORY_BYTES);
}

interface DumpFlags extends ImageFlags, TlsFlags {
  pageServer: boolean;
  address: string;
  port: number;
  iterative: boolean;
  imagesDir: string;
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  interval: number;
  policy: 'phaul' | 'fixed';
  iterations?: number;
  maxIters: number;
  minPages: number;
  maxGrowth: number;
  preDumpMode: 'splice' | 'read';
  bandwidth: number;
  leaveRunning: boolean;
  force: boolean;
  json: boolean;
  memory?: number;
  trackMem: boolean;
  prevImagesDir?: string;
}

function choice<T extends string>(what: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}`);
    return v as T;
  };
}

function iterationLine(s: IterationStats): string {
  return `${s.type === 'dump' ? 'dump    ' : 'pre-dump'} ${String(s.iteration).padStart(2)}: scanned ${s.pages_scanned} pages, ${s.pages_skipped_parent} in parent, wrote ${s.pages_written} (${formatBytes(s.bytes_written)}), frozen ${formatUs(s.frozen_time)}`;
}

export function renderDumpTable(r: DumpReport): string {
  const head = ['iter', 'type', 'scanned', 'in parent', 'written', 'bytes', 'frozen'];
  const rows = r.iterations.map((s) => [
    String(s.iteration),
    s.type,
    String(s.pages_scanned),
    String(s.pages_skipped_parent),
    String(s.pages_written),
    formatBytes(s.bytes_written),
    formatUs(s.frozen_time),
  ]);
  rows.push(['total', '', '', String(r.totals.pages_skipped_parent), String(r.totals.pages_written), formatBytes(r.totals.bytes_written), formatUs(r.totals.frozen_time)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const lines = [chalk.bold(fmt(head)), ...rows.slice(0, -1).map((row) => fmt(row)), chalk.dim('-'.repeat(fmt(head).length)), chalk.bold(fmt(rows[rows.length - 1]))];
  lines.push('');
  lines.push(`stopped: ${r.stop_reason}`);
  lines.push(`downtime (final dump frozen): ${chalk.bold(formatUs(r.final_frozen_time))}; images in ${r.images_dir}/1..${r.iterations.length}`);
  return lines.join('\n');
}

/** The flags a user gave (not those left at their defaults): a primitive dump inherits the rest. */
type Given = (name: string) => boolean;

export function primitiveCommand(type: 'pre-dump' | 'dump', f: DumpFlags, given: Given, out: Output): PrimitiveDumpReport {
  // A scripted dump replays its parents from their images, which a page server keeps on its side.
  if (f.pageServer) throw new UsageError('--page-server goes with --iterative (a dump by hand replays its parents from local images)');
  const r = primitiveDump({
    imagesDir: f.imagesDir,
    prevImagesDir: f.prevImagesDir,
    trackMem: f.trackMem,
    type,
    workload: given('workload') ? f.workload : f.prevImagesDir === undefined ? f.workload : undefined,
    seed: given('seed') ? f.seed : f.prevImagesDir === undefined ? f.seed : undefined,
    kernel: given('kernel') ? f.kernel : f.prevImagesDir === undefined ? f.kernel : undefined,
    interval: f.interval,
    bandwidth: f.bandwidth,
    force: f.force,
    memoryBytes: f.memory,
    ...imageOptions(f),
  });
  out.out(f.json ? JSON.stringify(r, null, 2) : `${iterationLine(r.stats)}\nimages in ${r.images_dir}${r.parent !== null ? ` (parent ${r.parent}; replayed ${r.replayed_steps} steps)` : ''}`);
  return r;
}

export function dumpCommand(f: DumpFlags, out: Output): DumpReport {
  if (f.prevImagesDir !== undefined || f.trackMem) throw new UsageError('--prev-images-dir and --track-mem go with a single dump (without --iterative), which pre-dumps itself');
  if (f.policy === 'fixed' && f.iterations === undefined) throw new UsageError('--policy fixed needs --iterations N');
  if (f.iterations !== undefined && f.policy !== 'fixed') throw new UsageError('--iterations goes with --policy fixed (use --max-iters with phaul)');
  let spinner: Ora | null = null;
  const report = iterativeDump({
    imagesDir: f.imagesDir,
    workload: f.workload,
    seed: f.seed,
    kernel: f.kernel,
    interval: f.interval,
    policy: f.policy,
    iterations: f.iterations ?? DEFAULT_DUMP_OPTIONS.iterations,
    maxIters: f.maxIters,
    minPages: f.minPages,
    maxGrowthPercent: f.maxGrowth,
    preDumpMode: f.preDumpMode,
    bandwidth: f.bandwidth,
    leaveRunning: f.leaveRunning,
    force: f.force,
    memoryBytes: f.memory,
    ...imageOptions(f),
    pageServer: pageServerTarget(f),
    onIteration: (s, phase) => {
      if (f.json) return;
      if (phase === 'start') {
        if (out.isTTY) spinner = ora(`iteration ${s.iteration}: running the workload and dumping`).start();
        return;
      }
      if (spinner !== null) spinner.succeed(iterationLine(s));
      else out.out(iterationLine(s));
      spinner = null;
    },
  });
  if (f.json) out.out(JSON.stringify(report, null, 2));
  else {
    if (report.warning !== null) out.err(chalk.yellow(`warning: ${report.warning}`));
    out.out('\n' + renderDumpTable(report));
  }
  return report;
}

function renderRestore(r: RestoreReport): string {
  const lines = r.iterations.map((i) => `  ${i.dir.padStart(4)}  ${String(i.pages_restored).padStart(8)} pages`);
  lines.unshift(chalk.bold(`restored ${r.pages_restored} pages from ${r.iterations.length} image${r.iterations.length === 1 ? '' : 's'}:`));
  lines.push(`memory digest ${r.memory_digest.slice(0, 16)}… ${chalk.green('matches the dump')}`);
  if (r.resumed_steps > 0) lines.push(`resumed the workload for ${r.resumed_steps} steps`);
  if (r.verify.ran) lines.push(chalk.green(`verify: identical to an uninterrupted run after ${r.steps + r.resumed_steps} steps`));
  return lines.join('\n');
}

export function renderCheck(r: CheckReport): string {
  const its = r.iterations.length === 1 ? `iteration ${r.iterations[0]}` : `iterations ${r.iterations[0]}..${r.iterations[r.iterations.length - 1]}`;
  return `${r.images_dir}: ${chalk.green('whole')}: ${its} (ends in a ${r.final_type}); every checksum verified (${formatBytes(r.page_bytes_checked)} of page data), all ${r.pages_in_parent} in-parent pages of its ${r.pages} found in parents`;
}

export function registerCheckpointCommands(program: Command): void {
  const dump = program
    .command('dump')
    .description('checkpoint a simulated process: with --iterative, pre-dumps with soft-dirty tracking then the final dump; without, one final dump (after `tracker pre-dump`s with --prev-images-dir)')
    .option('--iterative', 'pre-dump repeatedly, then dump (CRIU pre-dump + dump --track-mem --prev-images-dir)', false)
    .option('-D, --images-dir <dir>', 'where DIR/1 .. DIR/N go', DEFAULT_IMAGES_DIR)
    .option('--workload <name|file>', 'a built-in model (see `tracker workloads`), a model .json, an .ops script or a Lackey trace', DEFAULT_WORKLOAD)
    .option('--seed <n>', 'seed of the workload', intArg('--seed'), 1)
    .addOption(kernelOption())
    .option('--interval <steps>', 'workload steps between iterations', intArg('--interval', 1), DEFAULT_DUMP_OPTIONS.interval)
    .addOption(new Option('--policy <policy>', 'when to stop pre-dumping: phaul or fixed').default('phaul').argParser(choice('--policy', ['phaul', 'fixed'] as const)))
    .option('--iterations <n>', 'with --policy fixed: exactly N iterations (N-1 pre-dumps and the dump)', intArg('--iterations', 1))
    .option('--max-iters <n>', 'phaul: at most N iterations', intArg('--max-iters', 1), DEFAULT_DUMP_OPTIONS.maxIters)
    .option('--min-pages <n>', 'phaul: stop once a pre-dump writes at most N pages', intArg('--min-pages'), DEFAULT_DUMP_OPTIONS.minPages)
    .option('--max-growth <percent>', 'phaul: stop once a pre-dump grows more than this over the one before', intArg('--max-growth'), DEFAULT_DUMP_OPTIONS.maxGrowthPercent)
    .addOption(
      new Option('--pre-dump-mode <mode>', "splice: copy pages while frozen; read: copy after unfreezing while the workload runs")
        .default('splice')
        .argParser(choice('--pre-dump-mode', ['splice', 'read'] as const)),
    )
    .option('--bandwidth <rate>', 'page transfer rate for virtual-time figures (e.g. 1G, 100M/s)', parseBytes('--bandwidth'), DEFAULT_DUMP_OPTIONS.bandwidth)
    .option('--memory <size>', 'emulated physical memory, at most 4G (default: 4G less 4M)', memorySize)
    .option('--leave-running', 'leave the process running after the final dump', false)
    .option('--prev-images-dir <dir>', 'without --iterative: the parent pre-dump, relative to -D (e.g. ../2)')
    .option('--track-mem', 'without --iterative: dump only pages written since the parent', false)
    .option('--force', 'replace the images in a non-empty -D', false)
    .option('--json', 'print one JSON document with CRIU stats names', false);
  addPageServerClientOptions(addImageOptions(dump))
    .addHelpText(
      'after',
      `
Each iteration runs the workload --interval steps, freezes it, reads /proc/PID/pagemap (pagemap2 on
the seed kernel), takes the soft-dirty pages (all present pages the first time), writes
clear_refs 4, unfreezes it and writes DIR/N (under DIR/.N.tmp, renamed when complete).
${EXIT_CODES_HELP}`,
    )
    .action((opts: DumpFlags, cmd: Command) => {
      if (opts.iterative) dumpCommand(opts, processOutput(opts.json));
      else primitiveCommand('dump', opts, (n) => cmd.getOptionValueSource(n) === 'cli', processOutput(opts.json));
    });

  const preDump = program
    .command('pre-dump')
    .description('one pre-dump (CRIU pre-dump): memory only, the process keeps running; chain them with --prev-images-dir')
    .requiredOption('-D, --images-dir <dir>', 'this iteration, e.g. DIR/1')
    .option('--prev-images-dir <dir>', 'the parent iteration, relative to -D (e.g. ../1): only pages written since are dumped')
    .option('--track-mem', 'write clear_refs 4 after dumping, so the next iteration can be incremental', false)
    .option('--workload <name|file>', 'first iteration: the workload (later ones replay the parent\'s)', DEFAULT_WORKLOAD)
    .option('--seed <n>', 'first iteration: seed of the workload', intArg('--seed'), 1)
    .addOption(kernelOption())
    .option('--interval <steps>', 'workload steps to run before this iteration', intArg('--interval', 1), DEFAULT_DUMP_OPTIONS.interval)
    .option('--bandwidth <rate>', 'page transfer rate for virtual-time figures', parseBytes('--bandwidth'), DEFAULT_DUMP_OPTIONS.bandwidth)
    .option('--memory <size>', 'emulated physical memory, at most 4G', memorySize)
    .option('--force', 'replace an existing -D', false)
    .option('--json', 'print the iteration\'s stats as JSON', false);
  addImageOptions(preDump)
    .addHelpText(
      'after',
      `
The simulated process lives only inside one tracker run, so each pre-dump brings it back by
replaying the workload (deterministic) to the parent's step, writing clear_refs 4 where the parent
did; the page tables are then exactly as they were.
Example:
  tracker pre-dump -D img/1 --workload hot-cold --track-mem
  tracker pre-dump -D img/2 --prev-images-dir ../1 --track-mem
  tracker dump     -D img/3 --prev-images-dir ../2 --track-mem
  tracker restore  -D img/3 --verify
${EXIT_CODES_HELP}`,
    )
    .action((opts: DumpFlags, cmd: Command) => {
      primitiveCommand('pre-dump', { ...opts, iterative: false } as DumpFlags, (n) => cmd.getOptionValueSource(n) === 'cli', processOutput(opts.json));
    });

  program
    .command('restore')
    .description('restore the process of an image chain and check it against the dump')
    .requiredOption('-D, --images-dir <dir>', 'the final dump, DIR/N')
    .option('--verify', 'also run the same workload uninterrupted to the same step and compare memories', false)
    .option('--resume-steps <k>', 'continue the restored workload for K steps', intArg('--resume-steps'), 0)
    .option('--json', 'print the report as JSON', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((opts: { imagesDir: string; verify: boolean; resumeSteps: number; json: boolean }) => {
      const out = processOutput(opts.json);
      const r = restore({ dir: opts.imagesDir, verify: opts.verify, resumeSteps: opts.resumeSteps });
      out.out(opts.json ? JSON.stringify(r, null, 2) : renderRestore(r));
    });

  program
    .command('check')
    .description('check an image chain without restoring it: every checksum, every parent, every in-parent page held by an ancestor')
    .argument('<dir>', 'an iteration DIR/N (its parents are checked with it), or an images root (its last iteration)')
    .option('--json', 'print the report as JSON', false)
    .addHelpText('after', `
Makes every check restore makes of the images, and exits 3 naming the first thing wrong.
${EXIT_CODES_HELP}`)
    .action((dir: string, opts: { json: boolean }) => {
      const out = processOutput(opts.json);
      const r = checkReport(resolveIterationDir(dir));
      out.out(opts.json ? JSON.stringify(r, null, 2) : renderCheck(r));
    });
}
