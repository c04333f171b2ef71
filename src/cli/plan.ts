/** `tracker plan`: every policy at every bandwidth, a table and a recommendation. */
import chalk from 'chalk';
import { Command } from 'commander';
import { POLICIES, type PolicyName } from '../migrate/policy.js';
import { TRACK_BACKENDS, type TrackBackend } from '../criu/track.js';
import { InputError, InterruptedError, UsageError } from '../errors.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { defaultJobs, planReportInput, runPlan, type PlanOptions, type PlanReport } from '../migrate/plan.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from '../migrate/timing.js';
import { downtimeLimitOption, intervalOption, maxItersOption, POLICY_HELP, preDumpModeOption } from './checkpoint.js';
import { OPTIONS } from '../migrate/options.js';
import { EXIT_CODES_HELP } from './help.js';
import { addEngineOptions, engineSettings, type EngineFlags } from './engine-options.js';
import { fitLine, table } from './table.js';
import { intArg, kernelOption, memoryOption, optionFrom, choice } from './options.js';
import { processOutput, startSpinner, type Output, toJson } from './output.js';
import { checkReportDestination, writeDurably, writeReport } from './report-file.js';
import { decodeShard, encodeShard, mergePlanShards, parseShard, runPlanShard, SHARD_FORMAT } from '../migrate/plan-shard.js';
import { existsSync, readFileSync } from 'node:fs';
import { followBandwidthUnit, formatBandwidth, formatBytes, formatSeconds, parseBandwidth, parseList } from './units.js';
import { memoryModelOption, paramOption, rateOption, seedOption, workloadOption } from './workload-options.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { InvalidArgumentError } from 'commander';

interface PlanFlags extends EngineFlags {
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  bandwidth: number[];
  policy: PolicyName[];
  downtimeLimit: number;
  interval: Duration;
  maxIters?: number;
  iterations?: number;
  preDumpMode: PreDumpMode;
  autoConverge: boolean;
  rate?: number;
  param?: Record<string, string>;
  memoryModel: MemoryModel;
  fast: boolean;
  memory?: number;
  jobs?: number;
  seeds: number;
  report?: string;
  shard?: string;
  out?: string;
  json: boolean;
  track?: TrackBackend[];
}

export function renderPlan(p: PlanReport): string {
  const spread = p.seeds > 1;
  // With --track, the backend leads each row and its pages, false positives and frozen time follow.
  const tracks = p.rows.some((r) => r.false_positives !== null);
  const head = [...(tracks ? ['track'] : []), 'policy', 'bandwidth', 'iterations', 'converged', 'sent', 'downtime', 'margin', ...(spread ? ['downtime min-max'] : []), 'total time', ...(tracks ? ['pages', 'false pos.', 'frozen'] : [])];
  const lead = tracks ? 3 : 2;
  const rows = p.rows.map((r) => [
    ...(tracks ? [r.track] : []),
    r.policy,
    formatBandwidth(r.bandwidth),
    String(r.iterations),
    r.outcome === 'converged' || r.outcome === 'not converged' ? (r.converged ? 'yes' : 'no') : r.outcome,
    formatBytes(r.bytes_sent),
    `${formatSeconds(r.downtime_s)}${r.meets_limit ? '' : ' !'}`,
    `${r.margin_s < 0 ? '-' : '+'}${formatSeconds(Math.abs(r.margin_s))}`,
    ...(spread ? [r.spread !== undefined ? `${formatSeconds(r.spread.downtime_s[0])}-${formatSeconds(r.spread.downtime_s[2])}` : ''] : []),
    formatSeconds(r.total_time_s),
    ...(tracks ? [String(r.pages_written), String(r.false_positives ?? ''), formatSeconds(r.frozen_s)] : []),
  ]);
  const painted = rows.map((row, i) => {
    const r = p.rows[i];
    const paint = r === p.best ? chalk.green : r.meets_limit ? (s: string) => s : chalk.dim;
    return row.map((c) => paint(c));
  });
  const lines = [chalk.bold(`${p.workload.source}, seed ${p.workload.seed}: downtime limit ${formatSeconds(p.downtime_limit_s)}, interval ${formatSeconds(p.interval_s)}`)];
  lines.push(...table(head, painted, head.map((_, i) => (i < lead ? 'l' : 'r'))));
  // The mark's legend only when a row carries the mark.
  if (p.rows.some((r) => !r.meets_limit)) lines.push(chalk.dim(`! downtime over the limit${spread ? ` on some of the ${p.seeds} seeds (figures are medians)` : ''}`));
  lines.push('');
  // An answer is a sentence: broken after its commas to fit the terminal.
  for (const a of p.answers) lines.push(fitLine(`${formatBandwidth(a.bandwidth)}: ${a.converges ? chalk.green(a.summary) : chalk.yellow(a.summary)}`));
  lines.push('');
  lines.push(`${p.best !== null ? chalk.green('recommendation') : chalk.yellow('recommendation')}: ${p.recommendation}`);
  return lines.join('\n');
}

/** A shard file is only ever replaced by another: anything else at that path stays. */
function refuseForeign(file: string): void {
  if (!existsSync(file)) return;
  const head = readFileSync(file, { encoding: 'utf8', flag: 'r' }).slice(0, 40);
  if (!head.startsWith(`{"format":"${SHARD_FORMAT}"`)) throw new UsageError(`${file} exists and is not a plan shard tracker wrote; choose another --out`);
}

/** `tracker plan merge`: the unsharded plan's table, --json and --report from its shards. */
export function planMergeCommand(files: string[], f: { report?: string; json: boolean }, out: Output): PlanReport {
  const blobs = files.map((where) => {
    let text: string;
    try {
      text = readFileSync(where, 'utf8');
    } catch (e) {
      throw new InputError(`${where}: cannot read the plan shard (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return { blob: decodeShard(text, where), where };
  });
  const outcome = mergePlanShards(blobs);
  if (f.report !== undefined) writeReport(f.report, planReportInput(outcome));
  out.out(f.json ? JSON.stringify(outcome.plan, null, 2) : renderPlan(outcome.plan));
  return outcome.plan;
}

export async function planCommand(f: PlanFlags, out: Output): Promise<PlanReport | null> {
  if (f.iterations !== undefined && !f.policy.includes('fixed')) throw new UsageError('--iterations goes with --policy fixed');
  if (f.policy.includes('fixed') && f.iterations === undefined) throw new UsageError('--policy fixed needs --iterations N');
  if (f.report !== undefined) checkReportDestination(f.report);
  // SIGINT/SIGTERM stop every combination at its next safe point; each removes its images and
  // runPlan its temporary directory. A second signal exits at once.
  const abort = new SharedArrayBuffer(4);
  let stoppedBy: 'SIGINT' | 'SIGTERM' | null = null;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (stoppedBy !== null) process.exit(sig === 'SIGINT' ? 130 : 143);
    stoppedBy = sig;
    Atomics.store(new Int32Array(abort), 0, 1);
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  const spinner = startSpinner('plan: running the combinations');
  // Combinations done, and the latest iteration begun: a 1 TiB guest's one combination takes minutes.
  const progress = { done: 0, total: 0, last: null as string | null };
  const showProgress = () => {
    if (spinner === null) return;
    const done = progress.total === 0 ? 'running the combinations' : `${progress.done} of ${progress.total} combinations done`;
    spinner.text = `plan: ${done}${progress.last === null ? '' : `; ${progress.last}`}`;
    // Drawn now: a group of combinations can end between two of the spinner's frames.
    spinner.render();
  };
  let outcome;
  try {
    const options: PlanOptions = {
      workload: f.workload,
      seed: f.seed,
      kernel: f.kernel,
      bandwidths: f.bandwidth,
      policies: f.policy,
      downtimeLimit: f.downtimeLimit,
      interval: f.interval,
      maxIters: f.maxIters,
      iterations: f.iterations,
      preDumpMode: f.preDumpMode,
      autoConverge: f.autoConverge,
      rate: f.rate,
      params: f.param,
      memoryModel: f.memoryModel,
      fast: f.fast,
      memoryBytes: f.memory,
      jobs: f.jobs ?? defaultJobs(),
      engine: engineSettings(f, f.policy),
      seeds: f.seeds,
      heatmaps: f.report !== undefined,
      abort,
      onProgress: (done, total) => {
        progress.done = done;
        progress.total = total;
        progress.last = null;
        showProgress();
      },
      onIteration: (c, iteration) => {
        progress.last = `${c.policy} at ${formatBandwidth(c.bandwidth)}${c.seed === f.seed ? '' : ` (seed ${c.seed})`} in iteration ${iteration}`;
        showProgress();
      },
      tracks: f.track,
    };
    if (f.shard !== undefined) {
      const shard = parseShard(f.shard);
      const file = f.out ?? `tracker-plan-shard-${shard.index}-of-${shard.count}.json`;
      refuseForeign(file);
      const blob = await runPlanShard(options, shard);
      writeDurably(file, encodeShard(blob), 'the plan shard', '--out path');
      out.out(f.json ? JSON.stringify({ shard: blob.shard, combinations: blob.indexes, total: blob.total, file }) : `shard ${shard.index}/${shard.count}: ${blob.indexes.length} of ${blob.total} combinations written to ${file}; \`tracker plan merge\` the ${shard.count} files`);
      return null;
    }
    outcome = await runPlan(options);
  } catch (e) {
    if (e instanceof InterruptedError && stoppedBy !== null) throw new InterruptedError(`${e.message} (${stoppedBy})`, stoppedBy);
    throw e;
  } finally {
    spinner?.stop();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  if (f.report !== undefined) writeReport(f.report, planReportInput(outcome));
  out.out(f.json ? toJson(outcome.plan) : renderPlan(outcome.plan));
  return outcome.plan;
}

function policyList(v: string): PolicyName[] {
  return parseList('--policy', (p: string) => {
    if (!(POLICIES as readonly string[]).includes(p)) throw new InvalidArgumentError(`--policy items must be among ${POLICIES.join(', ')}, got '${p}'`);
    return p as PolicyName;
  })(v);
}

export function registerPlanCommand(program: Command): void {
  const plan = followBandwidthUnit(program.command('plan'), OPTIONS.planBandwidths.defaultText ?? '100Mbit');
  plan
    .description('predict pre-copy migration: run dump --iterative for every policy at every bandwidth (in parallel) and recommend one')
    .addOption(workloadOption())
    .addOption(seedOption())
    .addOption(kernelOption())
    .addOption(rateOption())
    .addOption(paramOption())
    .addOption(memoryModelOption('token', 'token: the plan reads no page bytes'))
    .option('--no-fast', 'run stationary workloads (hot-cold, uniform, guest) access by access instead of by sampled page writes (the same dirty pages in distribution, much faster for long transfers)')
    .addOption(optionFrom(OPTIONS.planBandwidths).argParser(parseList('--bandwidth', parseBandwidth('--bandwidth'))))
    .addOption(optionFrom(OPTIONS.planPolicies).argParser(policyList))
    .addOption(optionFrom(OPTIONS.planTracks).argParser(parseList('--track', choice('--track', TRACK_BACKENDS))))
    .addOption(downtimeLimitOption())
    .addOption(intervalOption())
    .addOption(maxItersOption())
    .option(OPTIONS.iterations.flag, OPTIONS.iterations.help, intArg('--iterations', 1))
    .addOption(preDumpModeOption())
    .option('--auto-converge', "with qemu: QEMU's throttle", false)
    .addOption(memoryOption('4G less 4M, or what a guest model needs, for each combination'))
    .addOption(optionFrom(OPTIONS.seeds).argParser(intArg('--seeds', 1)))
    .option('--jobs <n>', 'worker threads (default: the machine\'s cores); 0 runs in this thread (Ctrl-C then acts between combinations). The rows do not depend on it', intArg('--jobs', 0))
    .option('--report <file.html>', 'also write an HTML page with charts for every combination')
    .option('--json', 'print {"rows": [...], "best": {...}, "recommendation": ...}', false)
    .option('--shard <i/n>', 'run only shard i of n of the combinations (every n-th, from the i-th) and write them to a file for `tracker plan merge`')
    .option('--out <file>', 'with --shard: the shard file (default: tracker-plan-shard-I-of-N.json)');
  addEngineOptions(plan)
    .addHelpText(
      'after',
      `
Each combination is exactly \`tracker dump --iterative --fast --memory-model token\` with the same
options (--no-fast: without --fast), counted by a page-xfer that writes nothing; the row holds what
that dump reports. The
recommendation is the combination with the least total migration time whose downtime is within
--downtime-limit, or, when none is, what would have to change.
${POLICY_HELP}
Sweeps over machines: run \`tracker plan ... --shard i/n\` for i = 1..n (the same options each
time), then \`tracker plan merge\` the n files for the table, --json and --report of the whole plan.
Examples:
  tracker plan --workload hot-cold --bandwidth 100Mbit,1Gbit,10Gbit --policy phaul,qemu
  tracker plan --workload guest --param memory=8GiB --param dirtyRate=650Mbit --bandwidth 1Gbit --policy qemu
${EXIT_CODES_HELP}`,
    )
    .action(async (f: PlanFlags) => {
      await planCommand(f, processOutput(f.json));
    });
  plan
    .command('merge')
    .description('the table, recommendation and report of a plan from the files of its shards (tracker plan --shard i/n)')
    .argument('<shards...>', 'the n shard files, in any order')
    .option('--report <file.html>', 'also write the HTML page of the whole plan')
    .option('--json', 'print the plan as JSON, as tracker plan --json does')
    .action((files: string[], _f: unknown, cmd: Command) => {
      // plan's own --report and --json take these flags wherever they stand: read them from both.
      const f = cmd.optsWithGlobals<{ report?: string; json?: boolean }>();
      planMergeCommand(files, { report: f.report, json: f.json === true }, processOutput(f.json === true));
    });
}
