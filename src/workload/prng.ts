/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator): four 32-bit words of state, so a
 * workload's randomness is saved and restored exactly with its WorkloadState. Never Math.random:
 * the same seed must give the same accesses on every run and after every restore.
 */
export type PrngState = [number, number, number, number];

export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(state: PrngState) {
    [this.a, this.b, this.c, this.d] = state;
  }

  /** The generator for a seed: the seed is spread over the state, then 12 outputs are discarded. */
  static fromSeed(seed: number): Sfc32 {
    const s = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    const g = new Sfc32([0x9e3779b9, s, hi ^ 0x243f6a88, 1]);
    for (let i = 0; i < 12; i++) g.next();
    return g;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [0, n), n at most 2^32 (multiply-shift: no modulo bias worth noting). */
  below(n: number): number {
    return Math.floor((this.next() * n) / 4294967296);
  }

  state(): PrngState {
    return [this.a, this.b, this.c, this.d];
  }
}

/** A probability in [0, 1] as a threshold to compare next() against: next() < threshold. */
export function probabilityThreshold(p: number): number {
  return Math.round(p * 4294967296);
}
