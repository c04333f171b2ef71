import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A byte size or rate such as 1G, 512MiB, 100M/s, 1073741824. */
export function parseBytes(what: string): (v: string) => number {
  return (v: string) => {
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?$/i.exec(v.trim());
    if (m === null) throw new InvalidArgumentError(`${what} must be a size such as 1G, 512M or 100MiB/s, got '${v}'`);
    const n = Number(m[1]) * UNITS[m[2].toLowerCase()];
    if (!(n >= 1) || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be positive, got '${v}'`);
    return n;
  };
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatUs(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(1)} ms`;
  return `${us} µs`;
}
