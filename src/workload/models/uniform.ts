/**
 * uniform: every access picks a heap page uniformly at random. The worst case for pre-dump: the
 * dirty set per interval grows with the interval instead of settling near a hot set.
 */
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import { rateParam, type ResolvedParams } from '../params.js';
import { DEFAULT_RATES } from '../clock.js';
import { probabilityThreshold } from '../prng.js';

class UniformProcess extends ModelProcess {
  private heapPages = 0;
  private writeT = 0;

  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    return [{ pages: p.heap, populate: true }];
  }

  protected configure(p: ResolvedParams): void {
    this.heapPages = p.heap;
    this.writeT = probabilityThreshold(p.writeFraction);
  }

  protected override sampleWrites(n: number): boolean {
    this.writeSampled(this.regions[0], this.heapPages, 1 - Math.pow(1 - this.params.writeFraction / this.heapPages, n));
    return true;
  }

  protected access(n: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    // Page numbers, as the MMU takes them: no byte address to divide back on every access.
    const base = this.regions[0];
    const heap = this.heapPages;
    const writeT = this.writeT;
    for (let i = 0; i < n; i++) {
      const r1 = rng.next();
      const r2 = rng.next();
      const vpn = base + Math.floor((r1 * heap) / 4294967296);
      if (r2 < writeT) {
        const r = mm.store8(vpn, r2 & 4095, r2 >>> 24);
        if (r !== 0) this.fault(r, vpn * PAGE_SIZE + (r2 & 4095));
      } else {
        const r = mm.load8(vpn, r2 & 4095);
        if (r < 0) this.fault(r, vpn * PAGE_SIZE + (r2 & 4095));
      }
    }
  }
}

export const uniform: ModelDef = {
  name: 'uniform',
  description: 'uniformly random accesses over the whole heap (dirty set grows with the interval)',
  params: [
    { name: 'heap', kind: 'pages', default: '128M', min: 1, layout: true, description: 'size of the anonymous heap, mapped and populated at start' },
    { name: 'writeFraction', kind: 'fraction', default: 0.5, description: 'fraction of accesses that are writes' },
    rateParam(DEFAULT_RATES.model, 'random accesses that miss the caches, ~1 µs each'),
  ],
  create: (ctx: ModelContext) => new UniformProcess(ctx, uniform),
};
