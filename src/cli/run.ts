/** `tracker run` and `tracker workloads`. */
import chalk from 'chalk';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { createWorkload, DEFAULT_RATES, DEFAULT_WORKLOAD, listWorkloads, workloadMemoryNeed } from '../workload/index.js';
import type { TrackBackend } from '../criu/track.js';
import { runMeasured, type RunReport } from '../migrate/run.js';
import { EXIT_CODES_HELP } from './help.js';
import { intArg, kernelOption, memoryOption, trackOption } from './options.js';
import { table, type Align } from './table.js';
import { processOutput, type Output, toJson } from './output.js';
import { formatBytes, formatSeconds, parseDuration } from './units.js';
import type { Duration } from '../workload/clock.js';
import { memoryModelOption, paramOption, rateOption, seedOption, workloadOption, workloadOverrides } from './workload-options.js';
import type { MemoryModel } from '../mm/page-alloc.js';

interface RunFlags {
  track?: TrackBackend;
  workload: string;
  seed: number;
  duration: Duration;
  steps?: number;
  sampleInterval: Duration;
  rate?: number;
  param?: Record<string, string>;
  memoryModel?: MemoryModel;
  kernel: KernelProfileName;
  memory?: number;
  json: boolean;
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A one-line chart of a series; nulls as spaces. */
export function sparkline(values: (number | null)[]): string {
  const nums = values.filter((v): v is number => v !== null);
  const max = Math.max(1, ...nums);
  return values.map((v) => (v === null ? ' ' : SPARKS[Math.min(SPARKS.length - 1, Math.floor((v / max) * (SPARKS.length - 1) + 0.5))])).join('');
}

export function renderRun(r: RunReport): string {
  const page = (n: number) => formatBytes(n * 4096);
  const lines = [chalk.bold(`${r.workload.model} (${r.workload.source}), seed ${r.workload.seed}, kernel ${r.kernel}`)];
  if (!r.dirty_tracking) lines.push(chalk.yellow(`no dirty tracking: ${r.note ?? 'the kernel has no soft-dirty bit'}`));
  const head = ['interval', 'time', 'steps', 'dirty pages', 'dirty MiB/s', 'rss', 'working set'];
  const rows = r.samples.map((s) => [
    String(s.index),
    formatSeconds(s.seconds),
    String(s.steps),
    s.dirty_pages === null ? '-' : String(s.dirty_pages),
    s.dirty_rate_mib_per_s === null ? '-' : s.dirty_rate_mib_per_s.toFixed(1),
    page(s.rss_pages),
    page(s.working_set_pages),
  ]);
  // Long runs: show the first and last intervals and keep the chart for the whole run.
  const shown = rows.length > 24 ? [...rows.slice(0, 10), ['…', `${rows.length - 20} intervals`, '', '', '', '', ''], ...rows.slice(-10)] : rows;
  lines.push(...table(head, shown, head.map((): Align => 'r')));
  lines.push('');
  if (r.dirty_tracking) lines.push(`dirty pages per interval  ${chalk.cyan(sparkline(r.samples.map((s) => s.dirty_pages)))}  ${chalk.dim(`(--track ${r.track})`)}`);
  lines.push(`working set per interval  ${chalk.magenta(sparkline(r.samples.map((s) => s.working_set_pages)))}`);
  const t = r.totals;
  lines.push(
    `${t.steps} steps at ${r.rate.toLocaleString('en-US')} steps/s = ${formatSeconds(t.virtual_seconds)} virtual, after ${r.warm_up_steps} steps of setup and populate; ` +
      (r.dirty_rate_mib_per_s === null ? '' : `mean dirty rate ${r.dirty_rate_mib_per_s.toFixed(1)} MiB/s; `) +
      `final RSS ${page(t.final_rss_pages)}; max working set ${page(t.max_working_set_pages)}`,
  );
  return lines.join('\n');
}

export function runCommand(o: RunFlags, out: Output): RunReport {
  const overrides = workloadOverrides(o);
  const memoryBytes = o.memory ?? workloadMemoryNeed(o.workload, overrides) ?? undefined;
  const proc = createWorkload(new Kernel({ profile: o.kernel, memoryBytes, memoryModel: o.memoryModel }), o.workload, o.seed, overrides);
  const report = runMeasured(proc, { duration: o.steps !== undefined ? { steps: o.steps } : o.duration, sampleInterval: o.sampleInterval, track: o.track });
  out.out(o.json ? toJson(report) : renderRun(report));
  return report;
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description("run a workload without dumping and measure its dirty pages per interval (QEMU's calc-dirty-rate, the soft-dirty way)")
    .addOption(workloadOption())
    .addOption(seedOption())
    .addOption(rateOption())
    .addOption(paramOption())
    .addOption(memoryModelOption())
    .addOption(new Option('--duration <time>', 'virtual time to measure after setup and populate (e.g. 2s, 500ms; a bare number is steps)').default({ seconds: 2 }, '2s').argParser(parseDuration('--duration')))
    .option('--steps <n>', 'the same as --duration N (steps)', intArg('--steps', 1))
    .addOption(new Option('--sample-interval <time>', 'time between samples (e.g. 250ms; a bare number is steps): each reads soft-dirty through pagemap, then writes clear_refs 4').default({ seconds: 0.25 }, '250ms').argParser(parseDuration('--sample-interval')))
    .addOption(kernelOption())
    .addOption(memoryOption())
    .addOption(trackOption())
    .option('--json', 'print the report as JSON', false)
    .addHelpText(
      'after',
      `\nOne step is one memory access or system call and lasts 1/rate of virtual time (the workload's rate,
shown by \`tracker workloads\`; --rate overrides it). Setup and populate run first, unmeasured; the
first sample starts from a clear_refs 4 in the steady state.\n${EXIT_CODES_HELP}`,
    )
    .action((o: RunFlags) => {
      if (o.sampleInterval !== undefined && ('steps' in o.sampleInterval ? o.sampleInterval.steps : o.sampleInterval.seconds) <= 0) throw new UsageError('--sample-interval must be more than 0');
      runCommand(o, processOutput(o.json));
    });

  program
    .command('workloads')
    .description('list the built-in workload models, their parameters and defaults')
    .option('--json', 'print the list as JSON', false)
    .action((o: { json: boolean }) => {
      const out = processOutput(o.json);
      const list = listWorkloads();
      if (o.json) {
        out.out(toJson(list));
        return;
      }
      for (const w of list) {
        out.out(`${chalk.bold(w.name)}${w.name === DEFAULT_WORKLOAD ? chalk.dim(' (default)') : ''}  ${w.description}`);
        for (const p of w.params) out.out(`    ${p.name.padEnd(20)} ${String(p.default).padEnd(10)} ${chalk.dim(p.description)}`);
      }
      out.out(chalk.dim('\nAlso accepted as --workload: a model file (.json, see fixtures/workloads), an op script (.ops), a Valgrind Lackey trace (.lackey, .gz).'));
      out.out(chalk.dim(`Rates (steps per virtual second; --rate overrides): models ${DEFAULT_RATES.model.toLocaleString('en-US')} (a memory access that misses the caches, ~1 µs), op scripts ${DEFAULT_RATES.ops.toLocaleString('en-US')} (a line is a system call or a store over pages with its faults, ~100 µs), Lackey traces ${DEFAULT_RATES.lackey.toLocaleString('en-US')} (a record is one instruction fetch or data access of a native run, ~1 ns).`));
    });
}
