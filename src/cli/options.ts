/** Option parsers shared by the commands: one parser per kind of value. */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MEMORY_BYTES } from '../mm/kernel.js';
import { DEFAULT_KERNEL, isKernelProfileName, KERNEL_PROFILES, type KernelProfileName } from '../mm/kernel-profile.js';
import { parseBytes } from './units.js';

export function kernelOption(): Option {
  return new Option('--kernel <profile>', `kernel profile: ${KERNEL_PROFILES.join(', ')}`)
    .default(DEFAULT_KERNEL)
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

/** --memory: a size the emulated machine can have (4 MiB to 4 GiB). */
export function memorySize(v: string): number {
  const n = parseBytes('--memory')(v);
  if (n < 4 * 1024 * 1024 || n > 4 * 1024 ** 3) throw new InvalidArgumentError(`--memory must be between 4M and 4G, got '${v}'`);
  return Math.min(n, DEFAULT_MEMORY_BYTES);
}
