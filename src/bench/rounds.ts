/**
 * Alternating rounds: every figure is timed next to its yardsticks in the same run, round after
 * round, the order rotated each round, so a machine that speeds up or slows down (this VM returns
 * freed memory to its host; other jobs come and go) moves both sides of a ratio. Figures are
 * min–median–max over the rounds; a ratio is taken per round, then summarised.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface Range {
  min: number;
  median: number;
  max: number;
}

export function range(xs: readonly number[], digits = 3): Range {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const r = (x: number) => +x.toFixed(digits);
  return { min: r(s[0] ?? NaN), median: r(median), max: r(s[n - 1] ?? NaN) };
}

export function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Time `f` (seconds). */
export function timed(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return seconds(t0);
}

/**
 * A full collection, and a second that waits for the first one's sweep. V8 frees the memory of the
 * ArrayBuffers a collection found dead on a background thread, after gc() has returned, and glibc
 * gives it back to the kernel as it goes. A case that allocates within a millisecond or two of one
 * gc() (the minimal Node reader) wins that race: its first buffers pin the freed heap and it reuses
 * the previous case's memory; a case that starts allocating a few ms later (tracker's restore, or
 * the same reader 2 ms later, measured) finds it returned and pays the host's first touch of every
 * page, 5-10x the read itself on this VM. After the second collection, every case starts alike.
 */
export const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  f?.();
  f?.();
};

/**
 * Remove what a case wrote, and let the file system finish with it before the next timed case:
 * on this VM (ext4 mounted with discard) the blocks of a deleted 1 GiB file are discarded at the
 * next journal commit, which the next fsync would otherwise pay for, whoever made the file.
 */
export function settle(...paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  spawnSync('sync');
}

/**
 * Run every case once per round, rotating which goes first; each case returns the seconds of its
 * timed part (setup and cleanup outside it). Returns the seconds per case, one per round.
 */
export function alternate<K extends string>(rounds: number, cases: Record<K, () => number>): Record<K, number[]> {
  const names = Object.keys(cases) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(r + i) % names.length];
      gc();
      out[n].push(cases[n]());
    }
  }
  return out;
}

/** The async form, for cases that need the event loop (sockets). */
export async function alternateAsync<K extends string>(rounds: number, cases: Record<K, () => number | Promise<number>>): Promise<Record<K, number[]>> {
  const names = Object.keys(cases) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(r + i) % names.length];
      gc();
      out[n].push(await cases[n]());
    }
  }
  return out;
}

/** A figure next to its yardsticks: rates (bytes or operations per second) and per-round ratios. */
export interface Compared {
  /** What one timed run moves: bytes, or operations. */
  amount: number;
  unit: 'MB/s' | 'M/s' | 's/GiB';
  rounds: number;
  /** Rate of each case over the rounds (MB/s or M/s), min–median–max. */
  rate: Record<string, Range>;
  /** figure ÷ yardstick, per round: > 1 means the figure is faster. */
  ratio: Record<string, Range>;
}

/**
 * Rates and ratios from the seconds of alternating rounds: `figure` is the case measured, the
 * others its yardsticks; ratio `to_<yardstick>` is figure rate ÷ yardstick rate in the same round.
 */
export function compare(times: Record<string, number[]>, figure: string, amount: number, unit: 'MB/s' | 'M/s'): Compared {
  const scale = unit === 'MB/s' ? 1e6 : 1e6;
  const rate: Record<string, Range> = {};
  const ratio: Record<string, Range> = {};
  for (const [k, ts] of Object.entries(times)) rate[k] = range(ts.map((t) => amount / t / scale), 1);
  for (const [k, ts] of Object.entries(times)) {
    if (k === figure) continue;
    ratio[`to_${k}`] = range(ts.map((t, i) => t / times[figure][i]), 2);
  }
  return { amount, unit, rounds: times[figure].length, rate, ratio };
}
