/** Options every command that starts a workload shares: --workload, --seed, --rate. */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_WORKLOAD } from '../workload/index.js';
import { parseRate } from '../workload/params.js';
import { intArg } from './options.js';

export function workloadOption(description = 'a built-in model (see `tracker workloads`), a model .json, an .ops script or a Lackey trace'): Option {
  return new Option('--workload <name|file>', description).default(DEFAULT_WORKLOAD);
}

export function seedOption(description = 'seed of the workload'): Option {
  return new Option('--seed <n>', description).default(1).argParser(intArg('--seed'));
}

export function rateOption(): Option {
  return new Option('--rate <steps/s>', "workload steps per virtual second (e.g. 1M, 250k), over the workload's own (see `tracker workloads`)").argParser((v: string) => {
    const r = parseRate(v);
    if (!(r > 0) || !Number.isFinite(r)) throw new InvalidArgumentError(`--rate must be a positive rate such as 1M, 250k or 1000000, got '${v}'`);
    return r;
  });
}

/** The parameter overrides the command-line flags make. */
export function workloadOverrides(o: { rate?: number }): Record<string, unknown> {
  return o.rate === undefined ? {} : { rate: o.rate };
}
