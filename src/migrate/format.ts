/** Figures for people, shared by the CLI and the HTML report. */

export function formatSeconds(s: number): string {
  if (s === 0) return '0 s';
  if (s >= 60) return `${(s / 60).toFixed(2)} min`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(1)} ms`;
  return `${(s * 1e6).toFixed(0)} µs`;
}

export type BandwidthUnit = 'bits' | 'bytes';
let shownUnit: BandwidthUnit = 'bits';

/**
 * Rates are shown in the kind of unit the user gave them in: bits (decimal, as links are sold)
 * by default and for 10Gbit, bytes (binary, as parseBytes reads them) for 1G or 100M/s. The CLI
 * sets it once per command from what the user typed.
 */
export function showBandwidthIn(unit: BandwidthUnit): void {
  shownUnit = unit;
}

/** A link rate for people: 12.5 MB/s is 100 Mbit/s; 1073741824 B/s is 1 GiB/s. */
export function formatBandwidth(bytesPerS: number, unit: BandwidthUnit = shownUnit): string {
  if (unit === 'bytes') {
    for (const [u, f] of [['TiB/s', 1024 ** 4], ['GiB/s', 1024 ** 3], ['MiB/s', 1024 ** 2], ['KiB/s', 1024]] as const) {
      if (bytesPerS >= f) return `${+(bytesPerS / f).toPrecision(4)} ${u}`;
    }
    return `${bytesPerS} B/s`;
  }
  const bits = bytesPerS * 8;
  for (const [u, f] of [['Tbit/s', 1e12], ['Gbit/s', 1e9], ['Mbit/s', 1e6], ['kbit/s', 1e3]] as const) {
    if (bits >= f) return `${+(bits / f).toPrecision(4)} ${u}`;
  }
  return `${bits} bit/s`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

