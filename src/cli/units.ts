import { InvalidArgumentError, type Command } from 'commander';
import { showBandwidthIn, type BandwidthUnit } from '../migrate/format.js';
import { bandwidthProblem } from '../migrate/timing.js';
import type { Duration } from '../workload/clock.js';
import { parseByteRate, parseByteSize } from '../workload/params.js';
import { formatSeconds } from '../migrate/format.js';

export { formatBandwidth, formatBytes, formatSeconds } from '../migrate/format.js';

/** Whether the user wrote a rate in bits (10Gbit, 100Mbit/s, 1Gbps) or bytes (1G, 100M/s). */
export function bandwidthUnitOf(raw: string): BandwidthUnit {
  return /bit|bps/i.test(raw) ? 'bits' : 'bytes';
}

/**
 * Show rates in the kind of unit --bandwidth is given in (commander's raw option:NAME event), or
 * its default is spelled in when it is not given.
 */
export function followBandwidthUnit(cmd: Command, defaultSpelling: string): Command {
  let unit = bandwidthUnitOf(defaultSpelling);
  cmd.on('option:bandwidth', (raw: string) => (unit = bandwidthUnitOf(raw.split(',')[0])));
  return cmd.hook('preAction', () => showBandwidthIn(unit));
}


/** A byte size or rate such as 1G, 512MiB, 100M/s, 1073741824 (binary multiples). */
export function parseBytes(what: string): (v: string) => number {
  return (v: string) => {
    const n = parseByteSize(v);
    if (Number.isNaN(n)) throw new InvalidArgumentError(`${what} must be a size such as 1G, 512M or 100MiB/s, got '${v}'`);
    if (!(n >= 1) || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be positive, got '${v}'`);
    return n;
  };
}

/**
 * A transfer rate in bytes per second: bytes with binary multiples as parseBytes (1G, 100M/s), or
 * bits with decimal ones, as links are sold (10Gbit, 100Mbit/s, 1Gbps).
 */
export function parseBandwidth(what: string): (v: string) => number {
  const rate = anyBandwidth(what);
  return (v: string) => {
    const n = rate(v);
    const slow = bandwidthProblem(n);
    if (slow !== null) throw new InvalidArgumentError(`${what} ${slow}, got '${v}'`);
    return n;
  };
}

function anyBandwidth(what: string): (v: string) => number {
  return (v: string) => {
    const n = parseByteRate(v);
    if (Number.isNaN(n)) throw new InvalidArgumentError(`${what} must be a rate such as 1G (bytes/s, binary), 100M/s or 10Gbit (bits/s, decimal), got '${v}'`);
    if (!(n >= 1) || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be at least 8bit (1 byte) a second, got '${v}'`);
    return n;
  };
}

/** A comma-separated list, each item parsed by `one` (tracker plan --bandwidth 100Mbit,1Gbit). */
export function parseList<T>(what: string, one: (v: string) => T): (v: string) => T[] {
  return (v: string) => {
    const items = v.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw new InvalidArgumentError(`${what} must be a comma-separated list without empty items, got '${v}'`);
    return items.map(one);
  };
}

const TIME_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, sec: 1, min: 60, h: 3600 };

/**
 * A virtual duration: '0', '250ms', '2s', '1.5min' (seconds), or a bare whole number of workload
 * steps ('200000'), which existing scripts pass.
 */
export function parseDuration(what: string): (v: string) => Duration {
  return (v: string) => {
    const s = v.trim();
    if (/^\d+$/.test(s)) {
      const n = Number(s);
      if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${what} is too large, got '${v}'`);
      return n === 0 ? { seconds: 0 } : { steps: n };
    }
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s|sec|min|h)$/i.exec(s);
    if (m === null) throw new InvalidArgumentError(`${what} must be a duration such as 0, 250ms, 2s or 1.5min (or a whole number of steps), got '${v}'`);
    const seconds = Number(m[1]) * TIME_UNITS[m[2].toLowerCase()];
    if (!Number.isFinite(seconds)) throw new InvalidArgumentError(`${what} is too large, got '${v}'`);
    return { seconds };
  };
}

/** A duration that must be in time units (no steps): --downtime-limit. */
export function parseSeconds(what: string): (v: string) => number {
  const d = parseDuration(what);
  return (v: string) => {
    const r = d(v);
    if ('steps' in r) throw new InvalidArgumentError(`${what} needs a unit, such as 300ms or 1s, got '${v}'`);
    return r.seconds;
  };
}

export function formatDuration(d: Duration): string {
  return 'steps' in d ? `${d.steps} steps` : formatSeconds(d.seconds);
}

export function formatUs(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(1)} ms`;
  return `${us} µs`;
}
