/** Option parsers shared by the commands: one parser per kind of value. */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MEMORY_BYTES } from '../mm/kernel.js';
import { isKernelProfileName, KERNEL_PROFILES, type KernelProfileName } from '../mm/kernel-profile.js';
import { OPTIONS, type OptionSpec } from '../migrate/options.js';
import { parseBytes } from './units.js';
import { TRACK_BACKENDS } from '../criu/track.js';

/** A commander Option from a row of the options table (src/migrate/options.ts). */
export function optionFrom<T>(o: OptionSpec<T>, help = o.help): Option {
  const opt = new Option(o.flag, help);
  return o.default === undefined ? opt : opt.default(o.default, o.defaultText);
}

export function kernelOption(): Option {
  return new Option(OPTIONS.kernel.flag, `${OPTIONS.kernel.help}: ${KERNEL_PROFILES.join(', ')}`)
    .default(OPTIONS.kernel.default)
    .argParser((v: string): KernelProfileName => {
      if (!isKernelProfileName(v)) throw new InvalidArgumentError(`must be one of ${KERNEL_PROFILES.join(', ')}`);
      return v;
    });
}

/** A whole number from min to max (default: the largest integer a double holds exactly, 2^53 - 1). */
export function intArg(what: string, min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${what} must be a whole number, got '${v}'`);
    const n = Number(v);
    if (n < min) throw new InvalidArgumentError(`${what} must be at least ${min}, got '${v}'`);
    if (!Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`${what} must be at most ${max}, got '${v}'`);
    return n;
  };
}

export function choice<T extends string>(what: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}`);
    return v as T;
  };
}

/**
 * --memory, one declaration for every command; `defaultText` says what a command without it gets
 * (`tracker script`: the reference machine's).
 */
export function memoryOption(defaultText = '4G less 4M, or what a guest model needs'): Option {
  return new Option(OPTIONS.memory.flag, `${OPTIONS.memory.help.replace(/ \(default: .*\)$/, '')} (default: ${defaultText})`).argParser(memorySize);
}

/** --track, for dump, pre-dump and run. */
export function trackOption(): Option {
  return optionFrom(OPTIONS.track).argParser(choice('--track', TRACK_BACKENDS));
}

/** --memory: a size the emulated machine can have (4 MiB to 4 TiB; 4G is the default machine's 4G less 4M). */
export function memorySize(v: string): number {
  const n = parseBytes('--memory')(v);
  if (n < 4 * 1024 * 1024 || n > 4 * 1024 ** 4 - 8 * 1024 ** 2) throw new InvalidArgumentError(`--memory must be between 4M and 4T, got '${v}'`);
  return n <= 4 * 1024 ** 3 ? Math.min(n, DEFAULT_MEMORY_BYTES) : n;
}
