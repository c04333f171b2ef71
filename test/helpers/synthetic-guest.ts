/**
 * A synthetic guest for the engine tests: `ram` pages with contents, and a writer that dirties
 * `rate` pages per second round-robin over `hot` pages starting at page `hotStart`, so the dirty
 * set after t seconds is exactly min(hot, floor(rate x t)) pages: arithmetic a test can do.
 */
import type { GuestRam } from '../../src/migrate/qemu.js';
import { PageRuns } from '../../src/migrate/page-runs.js';

export class SyntheticGuest implements GuestRam {
  private dirty = new Set<number>();
  private carry = 0;
  private next = 0;
  /** Virtual seconds the guest ran (throttle included) and was given. */
  ranSeconds = 0;
  elapsed = 0;

  constructor(
    readonly ram: number,
    readonly rate: number,
    readonly hot: number,
    readonly hotStart = 0,
  ) {}

  run(seconds: number, throttlePct: number): void {
    this.elapsed += seconds;
    const s = (seconds * (100 - throttlePct)) / 100;
    this.ranSeconds += s;
    this.carry += s * this.rate;
    const n = Math.floor(this.carry + 1e-9);
    this.carry -= n;
    for (let i = 0; i < n && this.hot > 0; i++) {
      this.dirty.add(this.hotStart + this.next);
      this.next = (this.next + 1) % this.hot;
    }
  }

  peek(pending: PageRuns): { dirty: number; overlap: number } {
    let overlap = 0;
    pending.forEachUnsent((s, l) => {
      for (const p of this.dirty) if (p >= s && p < s + l) overlap++;
    });
    return { dirty: this.dirty.size, overlap };
  }

  sync(kind: 'setup' | 'pass' | 'final'): PageRuns {
    const r = new PageRuns();
    if (kind === 'setup') {
      r.push(0, this.ram);
      this.dirty.clear();
      return r;
    }
    for (const p of [...this.dirty].sort((a, b) => a - b)) r.push(p, 1);
    this.dirty.clear();
    return r;
  }
}
