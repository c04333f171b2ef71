/**
 * The engines' flags, shared by `dump --iterative` and `plan`: QEMU's (max-bandwidth,
 * avail-switchover-bandwidth, dirty-limit, the 9.2 periodic sync), CRIU's fixed costs, and
 * KubeVirt's monitor (timeouts, VEP 291 downtime tuning, VEP 248 stall detection).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { IterativeDumpOptions } from '../migrate/iterative.js';
import { KUBEVIRT_DEFAULTS } from '../migrate/policy-kubevirt.js';
import type { PolicyName } from '../migrate/policy.js';
import { QEMU_DEFAULTS } from '../migrate/qemu.js';
import { CRIU_FIXED_COSTS } from '../migrate/timing.js';
import { intArg } from './options.js';
import { parseBandwidth, parseBytes, parseSeconds } from './units.js';

export interface EngineFlags {
  maxBandwidth?: number;
  availSwitchoverBandwidth?: number;
  dirtyLimit?: number;
  vcpus?: number;
  periodicSync: boolean;
  predumpCost?: number;
  switchoverCost?: number;
  completionTimeoutPerGib: number;
  progressTimeout: number;
  allowPostCopy: boolean;
  allowWorkloadDisruption: boolean;
  maxDowntime: number;
  downtimeTuning: boolean;
  tuningInitial: number;
  tuningSteps: number;
  tuningStartAfter: number;
  tuningCooldown: number;
  stallDetection: boolean;
  stallMargin: number;
  stallProgressTimeout: number;
  switchoverTimeout: number;
  vmMemory?: number;
}

function rateOrUnlimited(what: string): (v: string) => number {
  const p = parseBandwidth(what);
  return (v: string) => (v.trim() === 'unlimited' ? Infinity : p(v));
}

function percent(what: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!(n >= 0 && n < 100)) throw new InvalidArgumentError(`${what} must be a percentage from 0 to 99, got '${v}'`);
    return n;
  };
}

export function addEngineOptions(cmd: Command): Command {
  const mib = (b: number) => `${b / 1024 ** 2}MiB/s`;
  const k = KUBEVIRT_DEFAULTS;
  return cmd
    .addOption(new Option('--max-bandwidth <rate>', `qemu, kubevirt: QEMU's max-bandwidth, the cap per 100 ms window ('unlimited' as libvirt sets it; default: qemu ${mib(QEMU_DEFAULTS.maxBandwidth)}, QEMU's own; kubevirt unlimited, libvirt's)`).argParser(rateOrUnlimited('--max-bandwidth')))
    .addOption(new Option('--avail-switchover-bandwidth <rate>', "qemu, kubevirt: the bandwidth QEMU assumes at the switchover instead of the one it measures (QEMU 8.2)").argParser(parseBandwidth('--avail-switchover-bandwidth')))
    .addOption(new Option('--dirty-limit <rate>', "qemu, kubevirt: QEMU 8.1's dirty-limit: once the throttle would trigger, each vCPU dirties at most RATE (QEMU's default vcpu-dirty-limit is 1MB/s)").argParser(parseBandwidth('--dirty-limit')))
    .option('--vcpus <n>', "vCPUs for --dirty-limit (default: the workload's vcpus parameter, else 1)", intArg('--vcpus', 1))
    .option('--no-periodic-sync', "with --auto-converge: without QEMU 9.2's bitmap sync every 5 s (QEMU before 9.2)")
    .addOption(new Option('--predump-cost <time>', `phaul, go-phaul, fixed: seconds frozen per pre-dump besides memory (default ${+(CRIU_FIXED_COSTS.preDump * 1e3).toFixed(3)}ms: freezing_time of a real dump + 10 ms assumed for parasite and /proc)`).argParser(parseSeconds('--predump-cost')))
    .addOption(new Option('--switchover-cost <time>', `seconds the final dump stays frozen besides memory (default: CRIU ${+(CRIU_FIXED_COSTS.switchover * 1e3).toFixed(3)}ms, a real dump's frozen_time less its memdump_time; qemu, kubevirt 0)`).argParser(parseSeconds('--switchover-cost')))
    .addOption(new Option('--completion-timeout-per-gib <time>', 'kubevirt: completionTimeoutPerGiB; past it: post-copy, pause or abort').default(k.completionTimeoutPerGiB, '150s').argParser(parseSeconds('--completion-timeout-per-gib')))
    .addOption(new Option('--progress-timeout <time>', 'kubevirt: abort when the remaining data has not fallen for this long (legacy progressTimeout)').default(k.progressTimeout, '150s').argParser(parseSeconds('--progress-timeout')))
    .option('--allow-post-copy', 'kubevirt: switch to post-copy at the completion timeout (and, with --allow-workload-disruption, at a stall)', false)
    .option('--allow-workload-disruption', 'kubevirt: pause the VM at the completion timeout instead of aborting', false)
    .addOption(new Option('--max-downtime <time>', 'kubevirt: maxDowntimeMs, the ceiling of VEP 291 and VEP 248').default(k.maxDowntimeMs / 1e3, '1050ms').argParser(parseSeconds('--max-downtime')))
    .option('--downtime-tuning', 'kubevirt: VEP 291, raise max_downtime step by step after --tuning-start-after iterations', false)
    .addOption(new Option('--tuning-initial <time>', 'VEP 291 initialMs').default(k.downtimeTuning.initialMs / 1e3, '150ms').argParser(parseSeconds('--tuning-initial')))
    .option('--tuning-steps <n>', 'VEP 291 steps: levels from --tuning-initial to --max-downtime', intArg('--tuning-steps', 1), k.downtimeTuning.steps)
    .option('--tuning-start-after <n>', 'VEP 291 startAfterIteration', intArg('--tuning-start-after', 1), k.downtimeTuning.startAfterIteration)
    .addOption(new Option('--tuning-cooldown <time>', 'VEP 291 cooldownSeconds').default(k.downtimeTuning.cooldownSeconds, '10s').argParser(parseSeconds('--tuning-cooldown')))
    .option('--stall-detection', 'kubevirt: VEP 248, switch over at a local minimum once the remaining data stalls', false)
    .addOption(new Option('--stall-margin <percent>', 'VEP 248 stallMargin').default(k.stallDetection.stallMargin, '4').argParser(percent('--stall-margin')))
    .addOption(new Option('--stall-progress-timeout <time>', 'VEP 248 stallProgressTimeout').default(k.stallDetection.stallProgressTimeout, '40s').argParser(parseSeconds('--stall-progress-timeout')))
    .addOption(new Option('--switchover-timeout <time>', 'VEP 248 switchoverTimeout: abort when the switchover it asked for has not come').default(k.stallDetection.switchoverTimeout, '60s').argParser(parseSeconds('--switchover-timeout')))
    .addOption(new Option('--vm-memory <size>', "kubevirt: the VM's size for --completion-timeout-per-gib (default: the workload's resident memory)").argParser(parseBytes('--vm-memory')));
}

const KUBEVIRT_ONLY = ['allowPostCopy', 'allowWorkloadDisruption', 'downtimeTuning', 'stallDetection'] as const;
const QEMU_ONLY = ['maxBandwidth', 'availSwitchoverBandwidth', 'dirtyLimit'] as const;

/** The dump options the engine flags give, for `policies` (refusing flags none of them takes). */
export function engineSettings(f: EngineFlags, policies: readonly PolicyName[]): Partial<IterativeDumpOptions> {
  const kubevirt = policies.includes('kubevirt');
  const qemu = kubevirt || policies.includes('qemu');
  for (const key of KUBEVIRT_ONLY) if (f[key] && !kubevirt) throw new UsageError(`--${dash(key)} is KubeVirt's: it goes with --policy kubevirt`);
  for (const key of QEMU_ONLY) if (f[key] !== undefined && !qemu) throw new UsageError(`--${dash(key)} is QEMU's: it goes with --policy qemu or kubevirt`);
  const out: Partial<IterativeDumpOptions> = {
    ...(f.maxBandwidth !== undefined ? { maxBandwidth: f.maxBandwidth } : {}),
    ...(f.availSwitchoverBandwidth !== undefined ? { availSwitchoverBandwidth: f.availSwitchoverBandwidth } : {}),
    ...(f.dirtyLimit !== undefined ? { dirtyLimit: f.dirtyLimit } : {}),
    ...(f.vcpus !== undefined ? { vcpus: f.vcpus } : {}),
    ...(f.periodicSync === false ? { periodicSync: false } : {}),
    ...(f.predumpCost !== undefined ? { predumpCost: f.predumpCost } : {}),
    ...(f.switchoverCost !== undefined ? { switchoverCost: f.switchoverCost } : {}),
  };
  if (kubevirt) {
    out.kubevirt = {
      completionTimeoutPerGiB: f.completionTimeoutPerGib,
      progressTimeout: f.progressTimeout,
      allowPostCopy: f.allowPostCopy,
      allowWorkloadDisruption: f.allowWorkloadDisruption,
      maxDowntimeMs: f.maxDowntime * 1e3,
      downtimeTuning: f.downtimeTuning ? { initialMs: f.tuningInitial * 1e3, steps: f.tuningSteps, startAfterIteration: f.tuningStartAfter, cooldownSeconds: f.tuningCooldown } : null,
      stallDetection: f.stallDetection ? { ...KUBEVIRT_DEFAULTS.stallDetection, stallMargin: f.stallMargin, stallProgressTimeout: f.stallProgressTimeout, switchoverTimeout: f.switchoverTimeout } : null,
      ...(f.vmMemory !== undefined ? { vmBytes: f.vmMemory } : {}),
    };
  }
  return out;
}

function dash(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
