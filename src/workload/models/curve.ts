/**
 * curve: a workload calibrated from measurements. Up to six page classes, each `pagesI` pages
 * written at `writeRateI` writes per page per virtual second (Poisson), in a populated region of
 * `memory`; what is left of memory is populated and never written again. It dirties
 * sum(pagesI (1 - e^(-writeRateI W))) distinct pages in a window of W seconds.
 *
 * The classes are usually fitted (curve-fit.ts) from the pages a real workload dirties in windows
 * of several lengths: a model file { "model": "curve", "windows": [{ "seconds": 0.125, "pages":
 * 1200 }, ...] }, or the output of `tracker run --json` (one report, or an array of reports at
 * different --sample-interval), each report giving the mean pages dirtied per sample interval.
 * Each step is one page write; the steady state is stationary, so it has a fast path.
 */
import { InputError } from '../../errors.js';
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import type { ParamSpec, ResolvedParams } from '../params.js';

export const CURVE_CLASSES = 6;

const CLASS_PARAMS: ParamSpec[] = [];
for (let i = 1; i <= CURVE_CLASSES; i++) {
  CLASS_PARAMS.push({ name: `pages${i}`, kind: 'pages', default: 0, layout: true, description: `pages of class ${i}` });
  CLASS_PARAMS.push({ name: `writeRate${i}`, kind: 'rate', default: 1, layout: true, description: `writes per page per second in class ${i}` });
}

export const CURVE_PARAMS: readonly ParamSpec[] = [
  { name: 'memory', kind: 'pages', default: '64M', min: 1, layout: true, description: 'memory, populated at start (at least the classes\' pages)' },
  ...CLASS_PARAMS,
];

interface Classes {
  first: number[];
  pages: number[];
  /** Probability that a step writes into each class. */
  share: number[];
  /** Page writes per second, all classes. */
  writes: number;
}

function classesOf(p: ResolvedParams, where = 'params.'): Classes {
  const c: Classes = { first: [], pages: [], share: [], writes: 0 };
  let at = 0;
  for (let i = 1; i <= CURVE_CLASSES; i++) {
    const n = p[`pages${i}`];
    if (n === 0) continue;
    c.first.push(at);
    c.pages.push(n);
    c.share.push(n * p[`writeRate${i}`]);
    c.writes += n * p[`writeRate${i}`];
    at += n;
  }
  if (c.pages.length === 0) throw new InputError(`${where}pages1: a curve workload needs at least one class of pages (or "windows" to fit them from)`);
  if (at > p.memory) throw new InputError(`${where}memory: the classes hold ${at} pages, more than memory (${p.memory} pages)`);
  c.share = c.share.map((s) => s / c.writes);
  return c;
}

class CurveProcess extends ModelProcess {
  private c!: Classes;
  private cumulative: number[] = [];

  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    return [{ pages: p.memory, populate: true }];
  }

  protected configure(p: ResolvedParams): void {
    this.c = classesOf(p);
    let s = 0;
    this.cumulative = this.c.share.map((x) => (s += x) * 4294967296);
  }

  protected access(n: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    const { first, pages } = this.c;
    const cum = this.cumulative;
    const base = this.regions[0];
    for (let i = 0; i < n; i++) {
      const r1 = rng.next();
      const r2 = rng.next();
      let k = 0;
      while (k < cum.length - 1 && r1 >= cum[k]) k++;
      const vpn = base + first[k] + Math.floor((r2 * pages[k]) / 4294967296);
      const f = mm.store8(vpn, r2 & 4095, r1 >>> 24);
      if (f !== 0) this.fault(f, vpn * PAGE_SIZE + (r2 & 4095));
    }
  }

  /** A page of class k is written by a step with probability share_k / pages_k. */
  protected override sampleWrites(n: number): boolean {
    const { first, pages, share } = this.c;
    for (let k = 0; k < pages.length; k++) this.writeSampled(this.regions[0] + first[k], pages[k], -Math.expm1(n * Math.log1p(-share[k] / pages[k])));
    return true;
  }
}

export const curve: ModelDef = {
  name: 'curve',
  description: 'page classes fitted to a measured dirty-page curve (windows of several lengths, or tracker run --json reports)',
  params: CURVE_PARAMS,
  check: (p, where) => void classesOf(p, where),
  derive: (p) => {
    p.rate = classesOf(p).writes;
  },
  memoryBytes: (p) => p.memory * PAGE_SIZE,
  create: (ctx: ModelContext) => new CurveProcess(ctx, curve),
};
