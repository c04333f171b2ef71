/**
 * The one table of the migration driver's options: each with its flag, its help text and its
 * default, read by the CLI (src/cli builds its flags from it), the dump worker and the plan, so
 * that a default is given once and a flag means the same in every command.
 */
import { DEFAULT_KERNEL, type KernelProfileName } from '../mm/kernel-profile.js';
import type { Duration } from '../workload/clock.js';
import { DEFAULT_WORKLOAD } from '../workload/registry.js';
import { DEFAULT_MAX_ITERS, PHAUL, POLICIES, QEMU, type PolicyName } from './policy.js';
import { KUBEVIRT_DEFAULTS } from './policy-kubevirt.js';
import { QEMU_DEFAULTS } from './qemu.js';
import { CRIU_FIXED_COSTS, type PreDumpMode } from './timing.js';
import { TRACK_BACKENDS, type TrackBackend } from '../criu/track.js';

const KV = KUBEVIRT_DEFAULTS;
const msOf = (s: number) => `${+(s * 1e3).toFixed(3)}ms`;

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
  bandwidth: spec('--bandwidth <rate>', 'speed the pages leave at: bytes/s (1G, 100M/s) or bits/s (10Gbit, 100Mbit); at least 1Mbit', 1024 ** 3, '1G'),
  /** Bytes of emulated physical memory; undefined: 4G less 4M, or what a guest model needs. */
  memory: spec<number | undefined>('--memory <size>', 'emulated physical memory, at most 4T (default: 4G less 4M, or what a guest model needs)', undefined),
  /** tracker plan: the link speeds and policies it compares. */
  planBandwidths: spec('--bandwidth <rates>', 'comma-separated link speeds: bytes/s (1G) or bits/s (100Mbit,1Gbit,10Gbit), each at least 1Mbit', [100e6 / 8, 1e9 / 8, 10e9 / 8], '100Mbit,1Gbit,10Gbit'),
  /** How iterations find the pages to copy (src/criu/track.ts); undefined: soft-dirty where the kernel has it. */
  track: spec<TrackBackend | undefined>('--track <backend>', `how iterations find written pages: ${TRACK_BACKENDS.join(', ')} (default: soft-dirty where the kernel has it; a backend the kernel lacks is refused)`, undefined),
  /** tracker plan: the tracking backends it compares (each row also counts false positives against the truly written set). */
  planTracks: spec<TrackBackend[] | undefined>('--track <backends>', `comma-separated tracking backends to compare: ${TRACK_BACKENDS.join(', ')} (adds pages, false positives and frozen time per backend)`, undefined),
  planPolicies: spec<PolicyName[]>('--policy <policies>', `comma-separated policies: ${POLICIES.join(', ')}`, ['phaul', 'qemu'], 'phaul,qemu'),
  /** tracker plan: seeds per combination. */
  seeds: spec('--seeds <n>', 'run every combination with N seeds (--seed, --seed+1, ...): rows give the median and the min-max; a row meets the limit only if every seed does', 1),
  // QEMU (qemu, kubevirt); bytes/s. Undefined: QEMU's own 128 MiB/s for qemu, unlimited (libvirt's) for kubevirt.
  maxBandwidth: spec<number | undefined>('--max-bandwidth <rate>', `qemu, kubevirt: QEMU's max-bandwidth, the cap per 100 ms window ('unlimited' as libvirt sets it; default: qemu ${QEMU_DEFAULTS.maxBandwidth / 1024 ** 2}MiB/s, QEMU's own; kubevirt unlimited, libvirt's)`, undefined),
  availSwitchoverBandwidth: spec<number | undefined>('--avail-switchover-bandwidth <rate>', 'qemu, kubevirt: the bandwidth QEMU assumes at the switchover instead of the one it measures (QEMU 8.2)', undefined),
  dirtyLimit: spec<number | undefined>('--dirty-limit <rate>', "qemu, kubevirt: QEMU 8.1's dirty-limit: once the throttle would trigger, each vCPU dirties at most RATE (QEMU's vcpu-dirty-limit default is 1MB/s)", undefined),
  vcpus: spec<number | undefined>('--vcpus <n>', "vCPUs for --dirty-limit (default: the workload's vcpus parameter, else 1)", undefined),
  periodicSync: spec('--no-periodic-sync', "with --auto-converge: without QEMU 9.2's bitmap sync every 5 s (QEMU before 9.2)", true),
  // CRIU's fixed costs, seconds. Undefined: CRIU_FIXED_COSTS for phaul, go-phaul and fixed, 0 for QEMU's policies.
  predumpCost: spec<number | undefined>('--predump-cost <time>', `phaul, go-phaul, fixed: seconds frozen per pre-dump besides memory (default ${msOf(CRIU_FIXED_COSTS.preDump)}: a real dump's freezing_time + 10 ms assumed for parasite and /proc)`, undefined),
  switchoverCost: spec<number | undefined>('--switchover-cost <time>', `seconds the final dump stays frozen besides memory (default: CRIU ${msOf(CRIU_FIXED_COSTS.switchover)}, a real dump's frozen_time less its memdump_time; qemu, kubevirt 0)`, undefined),
  // KubeVirt (kubevirt); times in seconds.
  completionTimeoutPerGiB: spec('--completion-timeout-per-gib <time>', 'kubevirt: completionTimeoutPerGiB; past it: post-copy, pause or abort', KV.completionTimeoutPerGiB as number, `${KV.completionTimeoutPerGiB}s`),
  progressTimeout: spec('--progress-timeout <time>', 'kubevirt: abort when the remaining data has not fallen for this long (legacy progressTimeout)', KV.progressTimeout as number, `${KV.progressTimeout}s`),
  allowPostCopy: spec('--allow-post-copy', 'kubevirt: switch to post-copy at the completion timeout (and, with --allow-workload-disruption, at a stall)', false),
  allowWorkloadDisruption: spec('--allow-workload-disruption', 'kubevirt: pause the VM at the completion timeout instead of aborting', false),
  maxDowntime: spec('--max-downtime <time>', 'kubevirt: maxDowntimeMs, the ceiling of VEP 291 and VEP 248', KV.maxDowntimeMs / 1e3, `${KV.maxDowntimeMs}ms`),
  downtimeTuning: spec('--downtime-tuning', 'kubevirt: VEP 291, raise max_downtime step by step after --tuning-start-after iterations', false),
  tuningInitial: spec('--tuning-initial <time>', 'VEP 291 initialMs', KV.downtimeTuning.initialMs / 1e3, `${KV.downtimeTuning.initialMs}ms`),
  tuningSteps: spec('--tuning-steps <n>', 'VEP 291 steps: levels from --tuning-initial to --max-downtime', KV.downtimeTuning.steps as number),
  tuningStartAfter: spec('--tuning-start-after <n>', 'VEP 291 startAfterIteration', KV.downtimeTuning.startAfterIteration as number),
  tuningCooldown: spec('--tuning-cooldown <time>', 'VEP 291 cooldownSeconds', KV.downtimeTuning.cooldownSeconds as number, `${KV.downtimeTuning.cooldownSeconds}s`),
  stallDetection: spec('--stall-detection', 'kubevirt: VEP 248, switch over at a local minimum once the remaining data stalls', false),
  stallMargin: spec('--stall-margin <percent>', 'VEP 248 stallMargin', KV.stallDetection.stallMargin as number),
  stallProgressTimeout: spec('--stall-progress-timeout <time>', 'VEP 248 stallProgressTimeout', KV.stallDetection.stallProgressTimeout as number, `${KV.stallDetection.stallProgressTimeout}s`),
  switchoverTimeout: spec('--switchover-timeout <time>', 'VEP 248 switchoverTimeout: abort when the switchover it asked for has not come', KV.stallDetection.switchoverTimeout as number, `${KV.stallDetection.switchoverTimeout}s`),
  vmMemory: spec<number | undefined>('--vm-memory <size>', "kubevirt: the VM's size for --completion-timeout-per-gib (default: the workload's resident memory)", undefined),
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
