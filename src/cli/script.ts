/** `tracker script FILE.ops`: run an op script on a fresh emulated process. */
import chalk from 'chalk';
import { InputError, ResourceError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { OBS_EXCLUSIVE, OBS_FILE, OBS_PRESENT, OBS_SOFT_DIRTY, OBS_SWAPPED, OBS_THP, OBS_ZERO_PAGE, opsReferenceMemoryBytes, runOpsScript, type Observation, type OpsRun } from '../ops/ops-executor.js';
import { OpsSyntaxError, parseOps } from '../ops/ops-parser.js';
import { readInputFile } from './files.js';
import type { Output } from './output.js';

export interface ScriptOptions {
  kernel: KernelProfileName;
  json: boolean;
  /** Emulated physical memory in bytes (default: the reference machine's, about 1.9 GiB). */
  memory?: number;
}

export function scriptObservations(file: string, opts: { kernel: KernelProfileName; memory?: number }): Observation[] {
  return scriptRun(file, opts).observations;
}

/** Parse and run an op script on a fresh emulated machine: `tracker script`'s library call. */
export function scriptRun(file: string, opts: { kernel: KernelProfileName; memory?: number }): OpsRun {
  const text = readInputFile(file, 'op script');
  let ops;
  try {
    ops = parseOps(text, file);
  } catch (e) {
    if (e instanceof OpsSyntaxError) throw new InputError(`${e.file}:${e.line}: ${e.detail}`);
    throw e;
  }
  return runOpsScript(new Kernel({ profile: opts.kernel, memoryBytes: opts.memory ?? opsReferenceMemoryBytes(opts.kernel) }), ops);
}

const LEGEND: ReadonlyArray<readonly [number, string, (s: string) => string]> = [
  [OBS_PRESENT, 'P', chalk.green],
  [OBS_SWAPPED, 'S', chalk.magenta],
  [OBS_FILE, 'F', chalk.blue],
  [OBS_EXCLUSIVE, 'X', chalk.cyan],
  [OBS_SOFT_DIRTY, 'D', chalk.red.bold],
  [OBS_ZERO_PAGE, 'Z', chalk.gray],
  [OBS_THP, 'H', chalk.yellow],
];

function cell(f: number): string {
  if (f === 0) return chalk.dim('·'.padEnd(7));
  return LEGEND.map(([bit, ch, color]) => ((f & bit) !== 0 ? color(ch) : chalk.dim('-'))).join('');
}

/** Runs of equal flags, so a 1024-page THP mapping stays readable. */
function runs(flags: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < flags.length; ) {
    let j = i;
    while (j < flags.length && flags[j] === flags[i]) j++;
    const where = j - i === 1 ? `${i}` : `${i}-${j - 1}`;
    parts.push(`${where.padStart(9)}  ${cell(flags[i])}  ${String(flags[i]).padStart(3)}`);
    i = j;
  }
  return parts.join('\n');
}

export function renderObservation(o: Observation): string {
  const who = o.proc === 'child' ? chalk.yellow(' [child]') : '';
  const at = chalk.dim(`line ${o.line}`) + who;
  if (o.errno !== undefined && o.op !== 'clear_refs') {
    if (o.child_status !== undefined) return `${at}  fork: child ${chalk.red(`ended with wait status ${o.child_status}`)} (errno ${o.errno})`;
    const extra = o.signal !== undefined ? ` signal ${o.signal} at page ${o.page}` : o.error !== undefined ? ` (${o.error})` : '';
    return `${at}  ${o.op} failed: ${chalk.red(`errno ${o.errno}`)}${extra}`;
  }
  if (o.op === 'pagemap') return `${at}  pagemap ${chalk.bold(String(o.name))}\n${runs(o.flags as number[])}`;
  if (o.op === 'smaps') {
    const vmas = o.vmas as { from: number; to: number; sd: number; anon_huge_kb: number; vmflags: string }[];
    const rows = vmas.map((v) => `  [${v.from}, ${v.to})  ${v.sd ? chalk.red('sd') : '  '}  AnonHugePages ${v.anon_huge_kb} kB  ${chalk.dim(v.vmflags)}`);
    return `${at}  smaps ${chalk.bold(String(o.name))}  sd=${o.sd}\n${rows.join('\n') || '  (no VMA)'}`;
  }
  if (o.op === 'clear_refs') {
    const ok = o.errno === 0 ? chalk.green('ok') : chalk.red(`errno ${o.errno}`);
    return `${at}  clear_refs ${JSON.stringify(o.value)} -> ${ok}`;
  }
  if (o.signal === 9) return `${at}  ${o.op}: ${chalk.red('killed by the OOM killer (signal 9)')}${o.page !== undefined ? ` at page ${o.page}` : ''}`;
  return `${at}  ${o.op}: ${JSON.stringify(o)}`;
}

export function scriptCommand(file: string, opts: ScriptOptions, out: Output): void {
  const run = scriptRun(file, opts);
  const obs = run.observations;
  if (opts.json) {
    for (const o of obs) out.out(JSON.stringify(o));
  } else {
    out.out(chalk.dim(`kernel ${opts.kernel}; flags: P present, S swapped, F file/shared, X exclusive, D soft-dirty, Z zero page, H THP`));
    for (const o of obs) out.out(renderObservation(o));
  }
  // The observations are complete (the kernel would print the same), but the machine was too small.
  if (run.oomKills > 0) {
    const killed = obs.find((o) => o.signal === 9);
    throw new ResourceError(
      `the emulated machine ran out of memory: the OOM killer killed ${run.oomKills === 1 ? 'a process' : `${run.oomKills} processes`} (signal 9${killed !== undefined ? ` at line ${String(killed.line)}` : ''}); give it more with --memory`,
    );
  }
}
