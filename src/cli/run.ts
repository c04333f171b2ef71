/** `tracker run` and `tracker workloads`. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { createWorkload, DEFAULT_WORKLOAD, listWorkloads, runMeasured, type RunReport } from '../workload/index.js';
import { EXIT_CODES_HELP } from './help.js';
import { intArg, kernelOption, memorySize } from './options.js';
import { processOutput, type Output } from './output.js';
import { formatBytes } from './units.js';

interface RunFlags {
  workload: string;
  seed: number;
  steps: number;
  sampleInterval: number;
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
  if (!r.softDirty) lines.push(chalk.yellow(`no dirty tracking: ${r.note ?? 'the kernel has no soft-dirty bit'}`));
  const head = ['interval', 'steps', 'dirty pages', 'dirty MiB/s', 'rss', 'working set'];
  const rows = r.samples.map((s) => [
    String(s.index),
    String(s.steps),
    s.dirtyPages === null ? '-' : String(s.dirtyPages),
    s.dirtyMiBps === null ? '-' : s.dirtyMiBps.toFixed(1),
    page(s.rssPages),
    page(s.workingSetPages),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padStart(w[i])).join('  ');
  // Long runs: show the first and last intervals and keep the chart for the whole run.
  const shown = rows.length > 24 ? [...rows.slice(0, 10), null, ...rows.slice(-10)] : rows;
  lines.push(chalk.bold(fmt(head)));
  for (const row of shown) lines.push(row === null ? chalk.dim(`  … ${rows.length - 20} intervals …`) : fmt(row));
  lines.push('');
  if (r.softDirty) lines.push(`dirty pages per interval  ${chalk.cyan(sparkline(r.samples.map((s) => s.dirtyPages)))}`);
  lines.push(`working set per interval  ${chalk.magenta(sparkline(r.samples.map((s) => s.workingSetPages)))}`);
  const t = r.totals;
  lines.push(
    `${t.steps} steps = ${t.virtualSeconds.toFixed(4)} virtual s; ` +
      (t.meanDirtyMiBps === null ? '' : `mean dirty rate ${t.meanDirtyMiBps.toFixed(1)} MiB/s; `) +
      `final RSS ${page(t.finalRssPages)}; max working set ${page(t.maxWorkingSetPages)}`,
  );
  return lines.join('\n');
}

export function runCommand(o: RunFlags, out: Output): RunReport {
  const proc = createWorkload(new Kernel({ profile: o.kernel, memoryBytes: o.memory }), o.workload, o.seed);
  const report = runMeasured(proc, { steps: o.steps, sampleInterval: o.sampleInterval });
  out.out(o.json ? JSON.stringify(report, null, 2) : renderRun(report));
  return report;
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description("run a workload without dumping and measure its dirty pages per interval (QEMU's calc-dirty-rate, the soft-dirty way)")
    .option('--workload <name|file>', 'a built-in model, a model .json, an .ops script or a Lackey trace', DEFAULT_WORKLOAD)
    .option('--seed <n>', 'seed of the workload', intArg('--seed'), 1)
    .option('--steps <n>', 'steps to run', intArg('--steps', 1), 1_600_000)
    .option('--sample-interval <steps>', 'steps between samples: each reads soft-dirty through pagemap, then writes clear_refs 4', intArg('--sample-interval', 1), 200_000)
    .addOption(kernelOption())
    .option('--memory <size>', 'emulated physical memory, at most 4G', memorySize)
    .option('--json', 'print the report as JSON', false)
    .addHelpText('after', `\nOne step is one memory access or system call, 10 ns of virtual time.\n${EXIT_CODES_HELP}`)
    .action((o: RunFlags) => {
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
        out.out(JSON.stringify(list, null, 2));
        return;
      }
      for (const w of list) {
        out.out(`${chalk.bold(w.name)}${w.name === DEFAULT_WORKLOAD ? chalk.dim(' (default)') : ''}  ${w.description}`);
        for (const p of w.params) out.out(`    ${p.name.padEnd(20)} ${String(p.default).padEnd(10)} ${chalk.dim(p.description)}`);
      }
      out.out(chalk.dim('\nAlso accepted as --workload: a model file (.json, see fixtures/workloads), an op script (.ops), a Valgrind Lackey trace (.lackey, .gz).'));
    });
}
