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

export function intArg(what: string, min = 0): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${what} must be a whole number, got '${v}'`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be at least ${min}, got '${v}'`);
    return n;
  };
}

export function choice<T extends string>(what: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}`);
    return v as T;
  };
}

/** --memory: a size the emulated machine can have (4 MiB to 4 TiB; 4G is the default machine's 4G less 4M). */
export function memorySize(v: string): number {
  const n = parseBytes('--memory')(v);
  if (n < 4 * 1024 * 1024 || n > 4 * 1024 ** 4 - 8 * 1024 ** 2) throw new InvalidArgumentError(`--memory must be between 4M and 4T, got '${v}'`);
  return n <= 4 * 1024 ** 3 ? Math.min(n, DEFAULT_MEMORY_BYTES) : n;
}
