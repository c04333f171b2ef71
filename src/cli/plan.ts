/** `tracker plan`: every policy at every bandwidth, a table and a recommendation. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { DEFAULT_DUMP_OPTIONS } from '../migrate/iterative.js';
import { POLICIES, type PolicyName } from '../migrate/policy.js';
import { UsageError } from '../errors.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { defaultJobs, planReportInput, runPlan, type PlanReport } from '../migrate/plan.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from '../migrate/timing.js';
import { downtimeLimitOption, intervalOption, maxItersOption, POLICY_HELP, preDumpModeOption } from './checkpoint.js';
import { OPTIONS } from '../migrate/options.js';
import { EXIT_CODES_HELP } from './help.js';
import { intArg, kernelOption, memoryOption, optionFrom } from './options.js';
import { processOutput, type Output } from './output.js';
import { writeReport } from './report-file.js';
import { formatBandwidth, formatBytes, formatSeconds, parseBandwidth, parseList } from './units.js';
import { rateOption, seedOption, workloadOption } from './workload-options.js';
import { InvalidArgumentError } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const lines = [chalk.bold(`${p.workload.source}, seed ${p.workload.seed}: downtime limit ${formatSeconds(p.downtime_limit_s)}, interval ${formatSeconds(p.interval_s)}`), chalk.bold(fmt(head))];
  p.rows.forEach((r, i) => {
    const line = fmt(rows[i]);
    lines.push(r === p.best ? chalk.green(line) : r.meets_limit ? line : chalk.dim(line));
  });
  lines.push(chalk.dim('! downtime over the limit'));
  lines.push('');
  lines.push(`${p.best !== null ? chalk.green('recommendation') : chalk.yellow('recommendation')}: ${p.recommendation}`);
  return lines.join('\n');
}

export async function planCommand(f: PlanFlags, out: Output): Promise<PlanReport> {
  if (f.iterations !== undefined && !f.policy.includes('fixed')) throw new UsageError('--iterations goes with --policy fixed');
  if (f.policy.includes('fixed') && f.iterations === undefined) throw new UsageError('--policy fixed needs --iterations N');
  // The combinations' temporary images go under one directory that an interrupt removes too.
  const tmpRoot = mkdtempSync(join(tmpdir(), 'tracker-plan-'));
  const onSignal = (signal: NodeJS.Signals) => {
    rmSync(tmpRoot, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
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
      tmpRoot,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(tmpRoot, { recursive: true, force: true });
  }
  if (f.report !== undefined) writeReport(f.report, planReportInput(outcome));
  out.out(f.json ? JSON.stringify(outcome.plan, null, 2) : renderPlan(outcome.plan));
  return outcome.plan;
}

function policyList(v: string): PolicyName[] {
  return parseList('--policy', (p: string) => {
    if (!(POLICIES as readonly string[]).includes(p)) throw new InvalidArgumentError(`--policy items must be among ${POLICIES.join(', ')}, got '${p}'`);
    return p as PolicyName;
  })(v);
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
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
    .option('--jobs <n>', 'worker threads (default: the machine\'s cores); 0 runs in this thread. The rows do not depend on it', intArg('--jobs', 0))
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
