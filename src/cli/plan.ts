/** `tracker plan`: every policy at every bandwidth, a table and a recommendation. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { DEFAULT_DUMP_OPTIONS } from '../migrate/iterative.js';
import { POLICIES, type PolicyName } from '../migrate/policy.js';
import { InterruptedError, UsageError } from '../errors.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { defaultJobs, planReportInput, runPlan, type PlanReport } from '../migrate/plan.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from '../migrate/timing.js';
import { downtimeLimitOption, intervalOption, maxItersOption, POLICY_HELP, preDumpModeOption } from './checkpoint.js';
import { OPTIONS } from '../migrate/options.js';
import { EXIT_CODES_HELP } from './help.js';
import { table } from './table.js';
import { intArg, kernelOption, memoryOption, optionFrom } from './options.js';
import { processOutput, startSpinner, type Output, toJson } from './output.js';
import { checkReportDestination, writeReport } from './report-file.js';
import { followBandwidthUnit, formatBandwidth, formatBytes, formatSeconds, parseBandwidth, parseList } from './units.js';
import { rateOption, seedOption, workloadOption } from './workload-options.js';
import { InvalidArgumentError } from 'commander';

interface PlanFlags {
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
  memory?: number;
  jobs?: number;
  report?: string;
  json: boolean;
}

export function renderPlan(p: PlanReport): string {
  const head = ['policy', 'bandwidth', 'iterations', 'converged', 'sent', 'downtime', 'total time'];
  const rows = p.rows.map((r) => [
    r.policy,
    formatBandwidth(r.bandwidth),
    String(r.iterations),
    r.converged ? 'yes' : 'no',
    formatBytes(r.bytes_sent),
    `${formatSeconds(r.downtime_s)}${r.meets_limit ? '' : ' !'}`,
    formatSeconds(r.total_time_s),
  ]);
  const painted = rows.map((row, i) => {
    const r = p.rows[i];
    const paint = r === p.best ? chalk.green : r.meets_limit ? (s: string) => s : chalk.dim;
    return row.map((c) => paint(c));
  });
  const lines = [chalk.bold(`${p.workload.source}, seed ${p.workload.seed}: downtime limit ${formatSeconds(p.downtime_limit_s)}, interval ${formatSeconds(p.interval_s)}`)];
  lines.push(...table(head, painted, head.map((_, i) => (i < 2 ? 'l' : 'r'))));
  // The mark's legend only when a row carries the mark.
  if (p.rows.some((r) => !r.meets_limit)) lines.push(chalk.dim('! downtime over the limit'));
  lines.push('');
  lines.push(`${p.best !== null ? chalk.green('recommendation') : chalk.yellow('recommendation')}: ${p.recommendation}`);
  return lines.join('\n');
}

export async function planCommand(f: PlanFlags, out: Output): Promise<PlanReport> {
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
  let outcome;
  try {
    outcome = await runPlan({
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
      memoryBytes: f.memory,
      jobs: f.jobs ?? defaultJobs(),
      heatmaps: f.report !== undefined,
      abort,
      onProgress: (done, total) => {
        if (spinner !== null) spinner.text = `plan: ${done} of ${total} combinations done`;
      },
    });
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
  followBandwidthUnit(program.command('plan'), OPTIONS.planBandwidths.defaultText ?? '100Mbit')
    .description('predict pre-copy migration: run dump --iterative for every policy at every bandwidth (in parallel) and recommend one')
    .addOption(workloadOption())
    .addOption(seedOption())
    .addOption(kernelOption())
    .addOption(rateOption())
    .addOption(optionFrom(OPTIONS.planBandwidths).argParser(parseList('--bandwidth', parseBandwidth('--bandwidth'))))
    .addOption(optionFrom(OPTIONS.planPolicies).argParser(policyList))
    .addOption(downtimeLimitOption())
    .addOption(intervalOption())
    .addOption(maxItersOption())
    .option(OPTIONS.iterations.flag, OPTIONS.iterations.help, intArg('--iterations', 1))
    .addOption(preDumpModeOption())
    .option('--auto-converge', "with qemu: QEMU's throttle", false)
    .addOption(memoryOption('4G less 4M, for each combination'))
    .option('--jobs <n>', 'worker threads (default: the machine\'s cores); 0 runs in this thread (Ctrl-C then acts between combinations). The rows do not depend on it', intArg('--jobs', 0))
    .option('--report <file.html>', 'also write an HTML page with charts for every combination')
    .option('--json', 'print {"rows": [...], "best": {...}, "recommendation": ...}', false)
    .addHelpText(
      'after',
      `
Each combination is exactly \`tracker dump --iterative\` with the same options, run into a temporary
images directory that is removed afterwards; the row holds what that dump reports. The
recommendation is the combination with the least total migration time whose downtime is within
--downtime-limit, or, when none is, what would have to change.
${POLICY_HELP}
Example:
  tracker plan --workload hot-cold --bandwidth 100Mbit,1Gbit,10Gbit --policy phaul,qemu
${EXIT_CODES_HELP}`,
    )
    .action(async (f: PlanFlags) => {
      await planCommand(f, processOutput(f.json));
    });
}
