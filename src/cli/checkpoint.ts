/** `tracker dump` and `tracker restore`. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import type { Ora } from 'ora';
import { DEFAULT_DUMP_OPTIONS, type DumpReport, type IterationReport } from '../migrate/iterative.js';
import { DEFAULT_MAX_ITERS, isQemuEngine, POLICIES, type PolicyName } from '../migrate/policy.js';
import { addEngineOptions, engineSettings, type EngineFlags } from './engine-options.js';
import type { PrimitiveDumpReport } from '../migrate/primitive.js';
import { checkReport, type CheckReport } from '../criu/page-read.js';
import { resolveIterationDir } from '../criu/stats.js';
import { restore, type RestoreReport } from '../migrate/resume.js';
import type { IterationStats } from '../criu/schema.js';
import type { TrackBackend } from '../criu/track.js';
import { UsageError } from '../errors.js';
import { join } from 'node:path';
import { IMAGE_FILES, readImage } from '../criu/image.js';
import type { InventoryEntry } from '../criu/schema.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { runDump } from './dump-runner.js';
import { requireImagesPath, requireUnlockedChain } from './files.js';
import { EXIT_CODES_HELP } from './help.js';
import { choice, intArg, kernelOption, memoryOption, optionFrom, trackOption } from './options.js';
import { OPTIONS, PRE_DUMP_MODES } from '../migrate/options.js';
import { processOutput, startSpinner, type Output, toJson } from './output.js';
import { fitLine, table } from './table.js';
import { followBandwidthUnit, formatBandwidth, formatBytes, formatSeconds, formatUs, parseBandwidth, parseDuration, parseSeconds } from './units.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from '../migrate/timing.js';
import { memoryModelOption, paramOption, rateOption, seedOption, workloadOption, workloadOverrides } from './workload-options.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { checkReportDestination, writeReport } from './report-file.js';
import { reportRun } from '../migrate/plan.js';
import { heatMapFromImages } from '../migrate/heatmap.js';
import { Kernel } from '../mm/kernel.js';
import { createWorkload, durationSteps, workloadRate } from '../workload/index.js';
import { addImageOptions, imageOptions, type ImageFlags } from './image-options.js';
import { addPageServerClientOptions, pageServerTarget, type TlsFlags } from './page-server.js';

export const DEFAULT_IMAGES_DIR = 'tracker-images';

interface DumpFlags extends ImageFlags, TlsFlags, EngineFlags {
  pageServer: boolean;
  address: string;
  port: number;
  iterative: boolean;
  imagesDir: string;
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  interval: Duration;
  policy: PolicyName;
  iterations?: number;
  maxIters?: number;
  downtimeLimit: number;
  autoConverge: boolean;
  rate?: number;
  param?: Record<string, string>;
  memoryModel?: MemoryModel;
  fast: boolean;
  report?: string;
  minPages: number;
  maxGrowth: number;
  preDumpMode: PreDumpMode;
  bandwidth: number;
  force: boolean;
  json: boolean;
  memory?: number;
  trackMem: boolean;
  prevImagesDir?: string;
  track?: TrackBackend;
}

function iterationLine(s: IterationStats): string {
  const shared = s.shpages_scanned !== undefined ? `, shared ${s.shpages_written} of ${s.shpages_scanned} (${formatBytes((s.shpages_written ?? 0) * 4096)})` : '';
  return `${s.type === 'dump' ? 'dump    ' : 'pre-dump'} ${String(s.iteration).padStart(2)}: scanned ${s.pages_scanned} pages, ${s.pages_skipped_parent} in parent, wrote ${s.pages_written} (${formatBytes(s.bytes_written)})${shared}, frozen ${formatUs(s.frozen_time)}`;
}

function timedLine(s: IterationReport): string {
  return `${iterationLine(s)}, took ${formatSeconds(s.duration_s)} of virtual time`;
}

export function renderDumpTable(r: DumpReport): string {
  const head = ['iter', 'type', 'start', 'duration', 'scanned', 'in parent', 'written', 'bytes', 'frozen', 'exp. downtime'];
  const rows = r.iterations.map((s) => [
    String(s.iteration),
    s.type,
    formatSeconds(s.start_s),
    formatSeconds(s.duration_s),
    String(s.pages_scanned),
    String(s.pages_skipped_parent),
    String(s.pages_written),
    formatBytes(s.bytes_written),
    formatSeconds(s.frozen_s),
    formatSeconds(s.expected_downtime_s),
  ]);
  rows.push(['total', '', '', formatSeconds(r.total_time_s), '', String(r.totals.pages_skipped_parent), String(r.totals.pages_written), formatBytes(r.totals.bytes_written), formatUs(r.totals.frozen_time), '']);
  // QEMU's auto-converge throttle, when it acted: the share of each iteration the workload was held.
  if (r.iterations.some((s) => s.throttle_pct > 0)) {
    head.push('throttle');
    rows.forEach((row, i) => row.push(i < r.iterations.length ? `${r.iterations[i].throttle_pct}%` : ''));
  }
  const lines = table(head, rows, head.map((_, i) => (i < 2 ? 'l' : 'r')));
  const last = lines.pop()!;
  lines.push(chalk.dim('-'.repeat(Math.max(...lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').length)))), chalk.bold(last));
  // Runs of iterations with the same note (QEMU's sync cause, pass after pass) take one line.
  for (let i = 0; i < r.iterations.length; i++) {
    const note = r.iterations[i].note;
    if (note === null) continue;
    let j = i;
    while (j + 1 < r.iterations.length && r.iterations[j + 1].note === note) j++;
    const which = j === i ? `iteration ${r.iterations[i].iteration}` : `iterations ${r.iterations[i].iteration}-${r.iterations[j].iteration}`;
    lines.push(chalk.yellow(`note: ${which}: ${note}`));
    i = j;
  }
  for (const s of r.iterations) {
    if ((s.shpages_scanned ?? 0) > 0) lines.push(`shared memory: iteration ${s.iteration} wrote ${s.shpages_written} of its ${s.shpages_scanned} shared pages (${formatBytes((s.shpages_written ?? 0) * 4096)}, while frozen), ${s.shpages_skipped_parent} in parent`);
  }
  for (const a of r.actions) lines.push(chalk.cyan(`${r.policy} at ${formatSeconds(a.at_s)}: ${a.why}`));
  lines.push('');
  lines.push(`workload ${r.workload.source} at ${r.rate.toLocaleString('en-US')} steps/s; link ${formatBandwidth(r.bandwidth)}; interval ${formatSeconds(r.interval_s)}; policy ${r.policy}; tracking ${r.track}`);
  const verdict = r.policy === 'fixed' || r.stop_reason.includes('did not converge') ? '' : r.converged ? chalk.green(' (converged)') : chalk.yellow(' (did not converge)');
  lines.push(`stopped: ${r.stop_reason}${verdict}`);
  const limit = r.policy === 'qemu' || r.policy === 'qemu-pass' ? ` (limit ${formatSeconds(r.downtime_limit_s)})` : '';
  if (r.outcome !== 'converged' && r.outcome !== 'not converged') lines.push(chalk.yellow(`outcome: ${r.outcome}`));
  lines.push(`downtime (final dump frozen): ${chalk.bold(formatSeconds(r.downtime_s))}${limit}; migration took ${chalk.bold(formatSeconds(r.total_time_s))} of virtual time; sent ${formatBytes(r.bytes_sent)}`);
  lines.push(`images in ${r.images_dir}/1..${r.iterations.length}`);
  return lines.join('\n');
}

/** The flags a user gave (not those left at their defaults): a primitive dump inherits the rest. */
type Given = (name: string) => boolean;

export async function primitiveCommand(type: 'pre-dump' | 'dump', f: DumpFlags, given: Given, out: Output): Promise<PrimitiveDumpReport> {
  for (const flag of ['rate', 'policy', 'downtimeLimit', 'autoConverge', 'report', 'maxIters']) {
    if (given(flag)) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} goes with dump --iterative`);
  }
  // A scripted dump replays its parents from their images, which a page server keeps on its side.
  if (f.pageServer) throw new UsageError('--page-server goes with --iterative (a dump by hand replays its parents from local images)');
  const r = await runDump<PrimitiveDumpReport>({
    kind: 'primitive',
    options: {
    imagesDir: f.imagesDir,
    prevImagesDir: f.prevImagesDir,
    trackMem: f.trackMem,
    track: f.track,
    type,
    workload: given('workload') ? f.workload : f.prevImagesDir === undefined ? f.workload : undefined,
    seed: given('seed') ? f.seed : f.prevImagesDir === undefined ? f.seed : undefined,
    params: f.param,
    memoryModel: f.memoryModel,
    kernel: given('kernel') ? f.kernel : f.prevImagesDir === undefined ? f.kernel : undefined,
    interval: primitiveIntervalSteps(f, given),
    bandwidth: f.bandwidth,
    force: f.force,
    memoryBytes: f.memory,
    ...(f.predumpCost !== undefined ? { predumpCost: f.predumpCost } : {}),
    ...(f.switchoverCost !== undefined ? { switchoverCost: f.switchoverCost } : {}),
    ...imageOptions(f),
    },
  });
  out.out(f.json ? toJson(r) : `${iterationLine(r.stats)}\nimages in ${r.images_dir}${r.parent !== null ? ` (parent ${r.parent}; replayed ${r.replayed_steps} steps)` : ''}`);
  return r;
}

/**
 * A pre-dump's --interval in steps: a duration with a unit is converted at the workload's rate
 * (the parent's recorded one, or the workload's own).
 */
function primitiveIntervalSteps(f: DumpFlags, given: Given): number {
  if ('steps' in f.interval) return f.interval.steps;
  let rate: number | undefined;
  if (f.prevImagesDir !== undefined && !given('workload')) rate = parentRate(f.imagesDir, f.prevImagesDir);
  rate ??= workloadRate(createWorkload(new Kernel(), f.workload, f.seed));
  return durationSteps(f.interval, rate);
}

function parentRate(dir: string, prev: string): number | undefined {
  try {
    const inv = readImage<InventoryEntry>(join(dir, prev, IMAGE_FILES.inventory), 'inventory');
    return workloadRate({ identity: inv.workload });
  } catch {
    return undefined; // the pre-dump itself reports a missing or broken parent
  }
}

export async function dumpCommand(f: DumpFlags, out: Output): Promise<DumpReport> {
  if (f.prevImagesDir !== undefined || f.trackMem) throw new UsageError('--prev-images-dir and --track-mem go with a single dump (without --iterative), which pre-dumps itself');
  if (f.policy === 'fixed' && f.iterations === undefined) throw new UsageError('--policy fixed needs --iterations N');
  if (f.iterations !== undefined && f.policy !== 'fixed') throw new UsageError(`--iterations goes with --policy fixed (use --max-iters with ${f.policy})`);
  if (f.autoConverge && !isQemuEngine(f.policy) && f.policy !== 'qemu-pass') throw new UsageError('--auto-converge is QEMU\'s throttle: it goes with --policy qemu, kubevirt or qemu-pass');
  if (f.report !== undefined) checkReportDestination(f.report);
  let spinner: Ora | null = null;
  const report = await runDump<DumpReport>({
    kind: 'iterative',
    options: {
    imagesDir: f.imagesDir,
    workload: f.workload,
    seed: f.seed,
    kernel: f.kernel,
    interval: f.interval,
    policy: f.policy,
    iterations: f.iterations ?? DEFAULT_DUMP_OPTIONS.iterations,
    maxIters: f.maxIters,
    downtimeLimit: f.downtimeLimit,
    autoConverge: f.autoConverge,
    rate: workloadOverrides(f).rate as number | undefined,
    params: f.param,
    memoryModel: f.memoryModel,
    fast: f.fast,
    minPages: f.minPages,
    maxGrowthPercent: f.maxGrowth,
    preDumpMode: f.preDumpMode,
    bandwidth: f.bandwidth,
    force: f.force,
    memoryBytes: f.memory,
    track: f.track,
    ...imageOptions(f),
    pageServer: pageServerTarget(f),
    ...engineSettings(f, [f.policy]),
    },
  }, (s, phase) => {
      if (f.json) return;
      if (phase === 'start') {
        spinner = startSpinner(`iteration ${s.iteration}: running the workload and dumping`);
        return;
      }
      const line = fitLine(timedLine(s as IterationReport));
      if (spinner !== null) spinner.stopAndPersist({ symbol: chalk.green('✔'), text: line });
      else out.out(line);
      spinner = null;
  }).finally(() => (spinner as Ora | null)?.stop());
  if (f.report !== undefined) {
    const run = reportRun(report, heatMapFromImages(report.images_dir, report.iterations.length));
    writeReport(f.report, {
      title: `tracker dump --iterative: ${report.workload.source}, seed ${report.workload.seed}`,
      subtitle: `${report.policy} at ${formatBandwidth(report.bandwidth)}; ${report.stop_reason}; virtual time`,
      downtime_limit_s: report.downtime_limit_s,
      runs: [run],
    });
  }
  if (f.json) out.out(toJson(report));
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

export const POLICY_HELP = `Policies (--policy):
  phaul     P.Haul (phaul/iters.py): stop after a pre-dump that wrote <= 64 pages, or grew more
            than 10 % over the one before, or after 9 pre-dumps (--max-iters 10 with the dump)
  go-phaul  go-criu phaul: stop after a pre-dump that wrote < 64 pages, or 32 pages or more than the
            one before (the first is compared with 0, so one pre-dump), or 8 pre-dumps (9 in all)
  qemu      QEMU's loop (migration.c, ram.c): pages leave in chunks; when the pages still to send
            fall under bandwidth x --downtime-limit (bandwidth measured per 100 ms), a bitmap sync
            counts what was dirtied since, and QEMU switches over if the total still fits, in the
            middle of a pass; else the sync starts the next pass. --max-bandwidth (QEMU's 128MiB/s
            by default), --auto-converge, --dirty-limit; --max-iters (default ${DEFAULT_MAX_ITERS.qemu}) bounds the syncs
  kubevirt  KubeVirt's migration monitor on QEMU's loop: completion timeout (150 s per GiB: post-copy,
            pause or abort), progress timeout, --downtime-tuning (VEP 291), --stall-detection (VEP 248)
  qemu-pass QEMU's threshold checked at pass boundaries only (tracker's earlier model): it decides
            later than QEMU, so its downtimes are lower than QEMU's; --max-iters (default ${DEFAULT_MAX_ITERS['qemu-pass']})
  fixed     exactly --iterations
CRIU-driven policies (phaul, go-phaul, fixed) pay --predump-cost per pre-dump and --switchover-cost
at the dump; shared anonymous memory is pre-dumped too, written while the process is frozen.`;

export function intervalOption(help = OPTIONS.interval.help): Option {
  return optionFrom(OPTIONS.interval, help).argParser(parseDuration('--interval'));
}

export function policyOption(): Option {
  return optionFrom(OPTIONS.policy).argParser(choice('--policy', POLICIES));
}

export function maxItersOption(): Option {
  return optionFrom(OPTIONS.maxIters).argParser(intArg('--max-iters', 1));
}

export function downtimeLimitOption(): Option {
  return optionFrom(OPTIONS.downtimeLimit).argParser(parseSeconds('--downtime-limit'));
}

export function bandwidthOption(): Option {
  return optionFrom(OPTIONS.bandwidth).argParser(parseBandwidth('--bandwidth'));
}

export function preDumpModeOption(): Option {
  return optionFrom(OPTIONS.preDumpMode).argParser(choice('--pre-dump-mode', PRE_DUMP_MODES));
}

export function renderCheck(r: CheckReport): string {
  const its = r.iterations.length === 1 ? `iteration ${r.iterations[0]}` : `iterations ${r.iterations[0]}..${r.iterations[r.iterations.length - 1]}`;
  return `${r.images_dir}: ${chalk.green('whole')}: ${its} (ends in a ${r.final_type}); every checksum verified (${formatBytes(r.page_bytes_checked)} of page data), all ${r.pages_in_parent} in-parent pages of its ${r.pages} found in parents`;
}

export function registerCheckpointCommands(program: Command): void {
  const dump = followBandwidthUnit(program.command('dump'), OPTIONS.bandwidth.defaultText ?? '1G')
    .description('checkpoint a simulated process: with --iterative, pre-dumps with soft-dirty tracking then the final dump; without, one final dump (after `tracker pre-dump`s with --prev-images-dir)')
    .option('--iterative', 'pre-dump repeatedly, then dump (CRIU pre-dump + dump --track-mem --prev-images-dir)', false)
    .option('-D, --images-dir <dir>', `with --iterative: the root DIR/1 .. DIR/N go in (default: ${DEFAULT_IMAGES_DIR}); without: this one iteration, DIR/N, as for pre-dump and restore (required)`)
    .addOption(workloadOption())
    .addOption(seedOption())
    .addOption(kernelOption())
    .addOption(rateOption())
    .addOption(paramOption())
    .addOption(memoryModelOption())
    .option('--fast', 'with --iterative: advance stationary workloads (hot-cold, uniform, guest) by sampled page writes, the same dirty pages in distribution', false)
    .addOption(intervalOption())
    .addOption(policyOption())
    .option(OPTIONS.iterations.flag, OPTIONS.iterations.help, intArg('--iterations', 1))
    .addOption(maxItersOption())
    .addOption(optionFrom(OPTIONS.minPages).argParser(intArg('--min-pages')))
    .addOption(optionFrom(OPTIONS.maxGrowthPercent).argParser(intArg('--max-growth')))
    .addOption(downtimeLimitOption())
    .option('--auto-converge', "qemu: QEMU's throttle, slowing the workload 20 % and then 10 % more whenever it dirties over half of what was sent, twice", false)
    .option('--report <file.html>', 'also write an HTML page with charts (pages per iteration, downtime, address-space heat map)')
    .addOption(preDumpModeOption())
    .addOption(bandwidthOption())
    .addOption(memoryOption())
    .option('--prev-images-dir <dir>', 'without --iterative: the parent pre-dump, relative to -D (e.g. ../2)')
    .option('--track-mem', 'without --iterative: dump only pages written since the parent', false)
    .addOption(trackOption())
    .option('--force', "replace tracker's images in a non-empty -D (anything else in it makes the dump refuse)", false)
    .option('--json', 'print one JSON document with CRIU stats names', false);
  addPageServerClientOptions(addImageOptions(addEngineOptions(dump)))
    .addHelpText(
      'after',
      `
-D: dump --iterative (like page-server) takes the root of a chain and writes DIR/1 .. DIR/N in it;
dump without --iterative, pre-dump and restore take one iteration, DIR/N, as CRIU's -D names one
images directory. So \`dump --iterative -D img\` is restored with \`restore -D img/N\`.
The workload first runs its setup and populate (a running service). Each iteration freezes it,
reads /proc/PID/pagemap (pagemap2 on the seed kernel), takes the soft-dirty pages (all present
pages the first time), writes clear_refs 4 and writes DIR/N (under DIR/.N.tmp, renamed when
complete). Virtual time: a pre-dump lets the process run while its pages leave at --bandwidth
(splice: once they are in pipes; read: during the whole copy), and what it writes then is dirty for
the next iteration; the final dump stays frozen until its last page has left: the downtime.
--interval adds running time between iterations (default 0: back to back, as P.Haul).
Without soft-dirty tracking (--kernel no-soft-dirty) there are no pre-dumps: one full dump and a
warning, as P.Haul does. DIR is locked (DIR/.tracker.lock) while the dump runs. Ctrl-C or SIGTERM
stops it at the next safe point and removes the partial iteration; earlier ones stay.
${POLICY_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (opts: Omit<DumpFlags, 'imagesDir'> & { imagesDir?: string }, cmd: Command) => {
      if (opts.iterative) await dumpCommand({ ...opts, imagesDir: opts.imagesDir ?? DEFAULT_IMAGES_DIR }, processOutput(opts.json));
      else {
        // Without --iterative, -D is one iteration (CRIU's meaning): no default root to fall back on.
        if (opts.imagesDir === undefined) throw new UsageError('dump without --iterative needs -D DIR/N, the iteration to write (e.g. -D img/3 --prev-images-dir ../2 --track-mem)');
        await primitiveCommand('dump', { ...opts, imagesDir: opts.imagesDir }, (n) => cmd.getOptionValueSource(n) === 'cli', processOutput(opts.json));
      }
    });

  const preDump = program
    .command('pre-dump')
    .description('one pre-dump (CRIU pre-dump): memory only, the process keeps running; chain them with --prev-images-dir')
    .requiredOption('-D, --images-dir <dir>', 'this one iteration, DIR/N (e.g. img/1): as CRIU\'s -D, not the root dump --iterative takes')
    .option('--prev-images-dir <dir>', 'the parent iteration, relative to -D (e.g. ../1): only pages written since are dumped')
    .option('--track-mem', 'reset tracking after dumping (clear_refs 4; uffd-wp: write-protect again), so the next iteration can be incremental', false)
    .addOption(trackOption())
    .addOption(workloadOption('first iteration: the workload (later ones replay the parent\'s)'))
    .addOption(seedOption('first iteration: seed of the workload'))
    .addOption(paramOption())
    .addOption(memoryModelOption())
    .addOption(kernelOption())
    .addOption(intervalOption('time the workload runs before this iteration (e.g. 100ms; a bare number is steps)'))
    .addOption(bandwidthOption())
    .addOption(memoryOption())
    .option('--force', 'replace an existing -D if tracker wrote it', false)
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
    .action(async (opts: DumpFlags, cmd: Command) => {
      await primitiveCommand('pre-dump', { ...opts, iterative: false } as DumpFlags, (n) => cmd.getOptionValueSource(n) === 'cli', processOutput(opts.json));
    });

  program
    .command('restore')
    .description('restore the process of an image chain and check it against the dump')
    .requiredOption('-D, --images-dir <dir>', 'the final dump, DIR/N (for a dump --iterative -D DIR: its last iteration)')
    .option('--verify', 'also run the same workload uninterrupted to the same step and compare memories', false)
    .option('--resume-steps <k>', 'continue the restored workload for K steps', intArg('--resume-steps'), 0)
    .option('--json', 'print the report as JSON', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((opts: { imagesDir: string; verify: boolean; resumeSteps: number; json: boolean }) => {
      const out = processOutput(opts.json);
      requireImagesPath(opts.imagesDir, undefined, true);
      requireUnlockedChain(opts.imagesDir);
      // Restore is synchronous: the spinner (a terminal only) is drawn as each phase begins.
      const spinner = opts.json ? null : startSpinner('restoring');
      let r;
      try {
        r = restore({
          dir: opts.imagesDir,
          verify: opts.verify,
          resumeSteps: opts.resumeSteps,
          onPhase: (what) => {
            if (spinner === null) return;
            spinner.text = what;
            spinner.render();
          },
        });
      } finally {
        spinner?.stop();
      }
      out.out(opts.json ? toJson(r) : renderRestore(r));
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
      requireImagesPath(dir);
      const r = checkReport(resolveIterationDir(dir));
      out.out(opts.json ? toJson(r) : renderCheck(r));
    });
}
