/** Options every command that starts a workload shares: --workload, --seed, --rate. */
import { InvalidArgumentError, Option } from 'commander';
import { OPTIONS } from '../migrate/options.js';
import { parseRate } from '../workload/params.js';
import { intArg } from './options.js';
import { MEMORY_MODELS, type MemoryModel } from '../mm/page-alloc.js';

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

/**
 * --param key=value, repeatable: a model parameter, as in a model file's params (values in the
 * same units: --param memory=8GiB --param dirtyRate=650Mbit). Checked by the model.
 */
export function paramOption(): Option {
  return new Option('--param <key=value>', 'set a model parameter, as in a model file (repeatable): --param memory=8GiB --param dirtyRate=650Mbit').argParser(
    (v: string, prev: Record<string, string> | undefined) => {
      const m = /^([A-Za-z][A-Za-z0-9]*)=(.+)$/.exec(v.trim());
      if (m === null) throw new InvalidArgumentError(`--param must be key=value, such as memory=8GiB, got '${v}'`);
      return { ...(prev ?? {}), [m[1]]: m[2].trim() };
    },
  );
}

/** --memory-model: frames hold bytes or content tokens (see page-alloc.ts). */
export function memoryModelOption(dflt?: MemoryModel, why?: string): Option {
  const o = new Option(
    '--memory-model <model>',
    'content: frames hold their 4 KiB (loads see stored bytes); token: frames hold a content token and page bytes are synthesised where needed (images, digests), ~4 KiB less per resident page',
  ).choices(MEMORY_MODELS);
  return dflt === undefined ? o : o.default(dflt, why);
}

/** The parameter overrides the command-line flags make: --param, then --rate. */
export function workloadOverrides(o: { rate?: number; param?: Record<string, string> }): Record<string, unknown> {
  return { ...(o.param ?? {}), ...(o.rate === undefined ? {} : { rate: o.rate }) };
}
