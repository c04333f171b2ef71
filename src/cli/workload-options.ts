/** Options every command that starts a workload shares: --workload, --seed, --rate. */
import { InvalidArgumentError, Option } from 'commander';
import { OPTIONS } from '../migrate/options.js';
import { parseRate } from '../workload/params.js';
import { intArg } from './options.js';

export function workloadOption(description = OPTIONS.workload.help): Option {
  return new Option(OPTIONS.workload.flag, description).default(OPTIONS.workload.default);
}

export function seedOption(description = OPTIONS.seed.help): Option {
  return new Option(OPTIONS.seed.flag, description).default(OPTIONS.seed.default).argParser(intArg('--seed'));
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
