/**
 * The one table of the migration driver's options: each with its flag, its help text and its
 * default, read by the CLI (src/cli builds its flags from it), the dump worker and the plan, so
 * that a default is given once and a flag means the same in every command.
 */
import { DEFAULT_KERNEL, type KernelProfileName } from '../mm/kernel-profile.js';
import type { Duration } from '../workload/clock.js';
import { DEFAULT_WORKLOAD } from '../workload/registry.js';
import { DEFAULT_MAX_ITERS, PHAUL, POLICIES, QEMU, type PolicyName } from './policy.js';
import type { PreDumpMode } from './timing.js';

export const PRE_DUMP_MODES = ['splice', 'read'] as const satisfies readonly PreDumpMode[];

/** One option: its flag as the CLI spells it, help text, default (and how --help shows it). */
export interface OptionSpec<T> {
  flag: string;
  help: string;
  default: T;
  defaultText?: string;
}

function spec<T>(flag: string, help: string, def: T, defaultText?: string): OptionSpec<T> {
  return defaultText === undefined ? { flag, help, default: def } : { flag, help, default: def, defaultText };
}

export const OPTIONS = {
  workload: spec('--workload <name|file>', 'a built-in model (see `tracker workloads`), a model .json, an .ops script or a Lackey trace', DEFAULT_WORKLOAD),
  seed: spec('--seed <n>', 'seed of the workload', 1),
  kernel: spec<KernelProfileName>('--kernel <profile>', 'kernel profile', DEFAULT_KERNEL),
  interval: spec<Duration>('--interval <time>', 'time the workload runs between iterations (e.g. 0, 250ms, 2s; a bare number is steps)', { seconds: 0 }, '0'),
  policy: spec<PolicyName>('--policy <policy>', `when to stop pre-dumping: ${POLICIES.join(', ')}`, 'phaul'),
  iterations: spec('--iterations <n>', 'with --policy fixed: exactly N iterations (N-1 pre-dumps and the dump)', 4),
  maxIters: spec<number | undefined>('--max-iters <n>', `iterations in all at most, the dump included (default: phaul ${DEFAULT_MAX_ITERS.phaul}, go-phaul ${DEFAULT_MAX_ITERS['go-phaul']}, qemu ${DEFAULT_MAX_ITERS.qemu})`, undefined),
  minPages: spec('--min-pages <n>', 'phaul: stop once a pre-dump writes at most N pages', PHAUL.minPages as number),
  maxGrowthPercent: spec('--max-growth <percent>', 'phaul: stop once a pre-dump grows more than this over the one before', PHAUL.maxGrowthPercent as number),
  downtimeLimit: spec('--downtime-limit <time>', 'qemu: the downtime the final dump may take (plan: the limit rows must meet)', QEMU.downtimeLimitS as number, '300ms'),
  preDumpMode: spec<PreDumpMode>('--pre-dump-mode <mode>', 'splice: pages go into pipes while frozen, the workload runs while they drain; read: the workload runs during the whole copy', 'splice'),
  /** Bytes per second. */
  bandwidth: spec('--bandwidth <rate>', 'speed the pages leave at: bytes/s (1G, 100M/s) or bits/s (10Gbit, 100Mbit)', 1024 ** 3, '1G'),
  /** Bytes of emulated physical memory; undefined: the largest machine (4G less 4M). */
  memory: spec<number | undefined>('--memory <size>', 'emulated physical memory, at most 4G (default: 4G less 4M)', undefined),
  /** tracker plan: the link speeds and policies it compares. */
  planBandwidths: spec('--bandwidth <rates>', 'comma-separated link speeds: bytes/s (1G) or bits/s (100Mbit,1Gbit,10Gbit)', [100e6 / 8, 1e9 / 8, 10e9 / 8], '100Mbit,1Gbit,10Gbit'),
  planPolicies: spec<PolicyName[]>('--policy <policies>', `comma-separated policies: ${POLICIES.join(', ')}`, ['phaul', 'qemu'], 'phaul,qemu'),
} as const;

/** The defaults of `dump --iterative` (and of each plan combination), from the table. */
export const DEFAULT_DUMP_OPTIONS = {
  interval: OPTIONS.interval.default,
  policy: OPTIONS.policy.default,
  iterations: OPTIONS.iterations.default,
  minPages: OPTIONS.minPages.default,
  maxGrowthPercent: OPTIONS.maxGrowthPercent.default,
  downtimeLimit: OPTIONS.downtimeLimit.default,
  preDumpMode: OPTIONS.preDumpMode.default,
  bandwidth: OPTIONS.bandwidth.default,
};
