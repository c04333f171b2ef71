/**
 * The engines' flags, shared by `dump --iterative` and `plan`: QEMU's (max-bandwidth,
 * avail-switchover-bandwidth, dirty-limit, the 9.2 periodic sync), CRIU's fixed costs, and
 * KubeVirt's monitor (timeouts, VEP 291 downtime tuning, VEP 248 stall detection).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { IterativeDumpOptions } from '../migrate/iterative.js';
import { OPTIONS, type OptionSpec } from '../migrate/options.js';
import { KUBEVIRT_DEFAULTS } from '../migrate/policy-kubevirt.js';
import type { PolicyName } from '../migrate/policy.js';
import { intArg, optionFrom } from './options.js';
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
  const O = OPTIONS;
  const rate = (o: OptionSpec<number | undefined>, p: (v: string) => number) => optionFrom(o).argParser(p);
  return cmd
    .addOption(rate(O.maxBandwidth, rateOrUnlimited('--max-bandwidth')))
    .addOption(rate(O.availSwitchoverBandwidth, parseBandwidth('--avail-switchover-bandwidth')))
    .addOption(rate(O.dirtyLimit, parseBandwidth('--dirty-limit')))
    .addOption(optionFrom(O.vcpus).argParser(intArg('--vcpus', 1)))
    .addOption(new Option(O.periodicSync.flag, O.periodicSync.help))
    .addOption(optionFrom(O.predumpCost).argParser(parseSeconds('--predump-cost')))
    .addOption(optionFrom(O.switchoverCost).argParser(parseSeconds('--switchover-cost')))
    .addOption(optionFrom(O.completionTimeoutPerGiB).argParser(parseSeconds('--completion-timeout-per-gib')))
    .addOption(optionFrom(O.progressTimeout).argParser(parseSeconds('--progress-timeout')))
    .addOption(optionFrom(O.allowPostCopy))
    .addOption(optionFrom(O.allowWorkloadDisruption))
    .addOption(optionFrom(O.maxDowntime).argParser(parseSeconds('--max-downtime')))
    .addOption(optionFrom(O.downtimeTuning))
    .addOption(optionFrom(O.tuningInitial).argParser(parseSeconds('--tuning-initial')))
    .addOption(optionFrom(O.tuningSteps).argParser(intArg('--tuning-steps', 1)))
    .addOption(optionFrom(O.tuningStartAfter).argParser(intArg('--tuning-start-after', 1)))
    .addOption(optionFrom(O.tuningCooldown).argParser(parseSeconds('--tuning-cooldown')))
    .addOption(optionFrom(O.stallDetection))
    .addOption(optionFrom(O.stallMargin).argParser(percent('--stall-margin')))
    .addOption(optionFrom(O.stallProgressTimeout).argParser(parseSeconds('--stall-progress-timeout')))
    .addOption(optionFrom(O.switchoverTimeout).argParser(parseSeconds('--switchover-timeout')))
    .addOption(optionFrom(O.vmMemory).argParser(parseBytes('--vm-memory')));
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
