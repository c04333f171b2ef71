/**
 * hot-cold: a heap whose small hot set takes most accesses (and most writes) while the rest is
 * touched now and then, mostly read. After the first pre-dump copied the populated heap, every
 * later interval dirties about the hot set plus a few cold pages: the convergence P.Haul's
 * iterative migration waits for.
 *
 * Defaults: a 128 MiB heap (32768 pages), an 8 MiB hot set (2048 pages), 98% of accesses hot, 80%
 * of hot and 10% of cold accesses are writes, 1M accesses per virtual second. A 200k-step (200 ms)
 * interval then writes ~157k times into the hot set (all 2048 pages) and ~400 times into cold
 * pages: ~2.4k dirty pages per interval.
 */
import { InputError } from '../../errors.js';
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import { rateParam, type ParamSpec, type ResolvedParams } from '../params.js';
import { DEFAULT_RATES } from '../clock.js';
import { probabilityThreshold } from '../prng.js';

export const HOT_COLD_PARAMS: readonly ParamSpec[] = [
  { name: 'heap', kind: 'pages', default: '128M', min: 1, layout: true, description: 'size of the anonymous heap, mapped and populated at start' },
  { name: 'hotSet', kind: 'pages', default: '8M', min: 1, description: 'size of the hot set, at the start of the heap' },
  { name: 'hotAccessFraction', kind: 'fraction', default: 0.98, description: 'fraction of accesses that go to the hot set' },
  { name: 'hotWriteFraction', kind: 'fraction', default: 0.8, description: 'fraction of hot-set accesses that are writes' },
  { name: 'coldWriteFraction', kind: 'fraction', default: 0.1, description: 'fraction of cold accesses that are writes' },
  rateParam(DEFAULT_RATES.model, 'a service thread whose accesses miss the caches, ~1 µs each'),
];

export function checkHotSet(p: ResolvedParams, where: string): void {
  if (p.hotSet > p.heap) throw new InputError(`${where}hotSet: must not exceed heap (${p.heap} pages), got ${p.hotSet} pages`);
}

export class HotColdProcess extends ModelProcess {
  private heapPages = 0;
  private hotPages = 0;
  private hotT = 0;
  private hotWriteT = 0;
  private coldWriteT = 0;

  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    return [{ pages: p.heap, populate: true, huge: this.hugeHeap() }];
  }

  protected hugeHeap(): boolean {
    return false;
  }

  protected configure(p: ResolvedParams): void {
    this.heapPages = p.heap;
    this.hotPages = Math.min(p.hotSet, p.heap);
    this.hotT = probabilityThreshold(p.hotAccessFraction);
    this.hotWriteT = probabilityThreshold(p.hotWriteFraction);
    this.coldWriteT = probabilityThreshold(p.coldWriteFraction);
  }

  protected access(n: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    const base = this.regions[0];
    const heap = this.heapPages;
    const hot = this.hotPages;
    const hotT = this.hotT;
    const hotWriteT = this.hotWriteT;
    const coldWriteT = this.coldWriteT;
    for (let i = 0; i < n; i++) {
      const r1 = rng.next();
      const r2 = rng.next();
      const r3 = rng.next();
      let page: number;
      let write: boolean;
      if (r1 < hotT) {
        page = Math.floor((r2 * hot) / 4294967296);
        write = r3 < hotWriteT;
      } else {
        page = Math.floor((r2 * heap) / 4294967296);
        write = r3 < coldWriteT;
      }
      if (write) {
        const r = mm.store8(base + page, r3 & 4095, r3 >>> 24);
        if (r !== 0) this.fault(r, (base + page) * PAGE_SIZE + (r3 & 4095));
      } else {
        const r = mm.load8(base + page, r3 & 4095);
        if (r < 0) this.fault(r, (base + page) * PAGE_SIZE + (r3 & 4095));
      }
    }
  }

  /**
   * A hot page is written by a step with probability hotAccess x hotWrite / hot, plus the cold
   * writes that land on it; a cold one only by cold writes: (1 - hotAccess) x coldWrite / heap.
   */
  protected override sampleWrites(n: number): boolean {
    if (this.hugeHeap()) return false;
    const p = this.params;
    const cold = ((1 - p.hotAccessFraction) * p.coldWriteFraction) / this.heapPages;
    const hot = (p.hotAccessFraction * p.hotWriteFraction) / this.hotPages + cold;
    this.writeSampled(this.regions[0], this.hotPages, 1 - Math.pow(1 - hot, n));
    this.writeSampled(this.regions[0] + this.hotPages, this.heapPages - this.hotPages, 1 - Math.pow(1 - cold, n));
    return true;
  }

  /** A uniformly chosen page of the heap (for events). */
  protected randomHeapPage(): number {
    return this.regions[0] + this.rng.below(this.heapPages);
  }

  protected get heapSize(): number {
    return this.heapPages;
  }

  protected get hotSize(): number {
    return this.hotPages;
  }
}

export const hotCold: ModelDef = {
  name: 'hot-cold',
  description: 'a heap with a small hot set taking most accesses and writes (the default: shows pre-dump convergence)',
  params: HOT_COLD_PARAMS,
  check: checkHotSet,
  create: (ctx: ModelContext) => new HotColdProcess(ctx, hotCold),
};
