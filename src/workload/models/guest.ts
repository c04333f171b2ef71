/**
 * guest: a VM's memory described as migration engineers measure it. `memory` is the guest's RAM;
 * `zeroFraction` of it reads as zero (never written: not resident, not dumped); the rest is
 * populated at start. `dirtyRate` is what QEMU's calc-dirty-rate and KubeVirt report: bytes of
 * distinct pages dirtied in a 1 s window (`tracker run --sample-interval 1s` prints the same). It
 * falls on the writable working set `wss` (the first `wss` of the populated memory, split evenly
 * among `vcpus`, each vCPU writing its own slice), except `coldFraction` of it, which falls on the
 * rest of the populated memory.
 *
 * Each step is one page write (a uniformly chosen page of one vCPU's slice, or of the cold rest).
 * The write rate w a set of N pages needs for D distinct pages a second follows from the expected
 * number of distinct pages n writes touch, N (1 - (1 - 1/N)^n): w = ln(1 - D/N) / ln(1 - 1/N),
 * per slice. So `rate` (steps per virtual second) is derived, not given.
 */
import { InputError } from '../../errors.js';
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import type { ParamSpec, ResolvedParams } from '../params.js';

export const GUEST_PARAMS: readonly ParamSpec[] = [
  { name: 'memory', kind: 'pages', default: '1G', min: 512, layout: true, description: "the guest's RAM" },
  { name: 'dirtyRate', kind: 'byterate', default: '100Mbit', layout: true, description: 'distinct pages dirtied per second, as calc-dirty-rate reports it (80M/s, 650Mbit)' },
  { name: 'wss', kind: 'pages', default: 0, layout: true, description: 'the writable working set the dirty rate falls on (0: all populated memory)' },
  { name: 'vcpus', kind: 'count', default: 1, min: 1, layout: true, description: 'vCPUs: each writes its own slice of the working set' },
  { name: 'zeroFraction', kind: 'fraction', default: 0, layout: true, description: 'fraction of memory that reads as zero (never written)' },
  { name: 'coldFraction', kind: 'fraction', default: 0, layout: true, description: 'fraction of the dirty rate that falls outside the working set' },
];

/** The shape every guest instance computes from its parameters. */
export interface GuestShape {
  populated: number;
  zero: number;
  /** Pages of one vCPU's slice of the working set, and the slices. */
  slice: number;
  vcpus: number;
  /** Pages outside the working set (populated). */
  cold: number;
  /** Writes per virtual second into the working set, and into the cold rest. */
  hotWrites: number;
  coldWrites: number;
}

/** Writes a second that touch `distinct` of `n` pages a second, in expectation. */
function writesFor(distinct: number, n: number): number {
  if (distinct <= 0) return 0;
  if (n === 1) return distinct >= 1 ? Infinity : distinct;
  return Math.log(1 - distinct / n) / Math.log(1 - 1 / n);
}

export function guestShape(p: ResolvedParams, where = 'params.'): GuestShape {
  const zero = Math.floor(p.memory * p.zeroFraction);
  const populated = p.memory - zero;
  const wss = p.wss === 0 ? populated : p.wss;
  if (wss > populated) throw new InputError(`${where}wss: must not exceed the populated memory (${populated} pages: memory less zeroFraction), got ${wss} pages`);
  if (p.vcpus > wss) throw new InputError(`${where}vcpus: at most one vCPU per working-set page (${wss}), got ${p.vcpus}`);
  const slice = Math.floor(wss / p.vcpus);
  const cold = populated - slice * p.vcpus;
  const d = p.dirtyRate / PAGE_SIZE;
  const dHot = d * (1 - p.coldFraction);
  const dCold = d * p.coldFraction;
  // Distinct pages a second cannot reach the set they fall on (every page written every second).
  if (dHot >= slice * p.vcpus) {
    throw new InputError(`${where}dirtyRate: ${Math.round(dHot)} distinct pages a second do not fit a working set of ${slice * p.vcpus} pages; give a larger wss or a lower dirtyRate`);
  }
  if (dCold > 0 && dCold >= cold) throw new InputError(`${where}coldFraction: ${Math.round(dCold)} cold pages a second do not fit the ${cold} pages outside the working set`);
  const hotWrites = p.vcpus * writesFor(dHot / p.vcpus, slice);
  const coldWrites = writesFor(dCold, cold);
  return { populated, zero, slice, vcpus: p.vcpus, cold, hotWrites, coldWrites };
}

class GuestProcess extends ModelProcess {
  private shape!: GuestShape;
  /** Steady steps so far: which vCPU writes next, and when a cold write is due. */
  private n = 0;
  private coldEvery = 0;

  constructor(ctx: ModelContext) {
    super(ctx, guest);
    const extra = ctx.state?.extra;
    if (extra !== undefined && typeof extra.n === 'number') this.n = extra.n;
  }

  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    const s = guestShape(p);
    const out: RegionSpec[] = [{ pages: s.populated, populate: true }];
    if (s.zero > 0) out.push({ pages: s.zero });
    return out;
  }

  protected configure(p: ResolvedParams): void {
    this.shape = guestShape(p);
    const s = this.shape;
    // Cold writes come at a fixed period among the steps, so each second has its share exactly.
    this.coldEvery = s.coldWrites > 0 ? (s.hotWrites + s.coldWrites) / s.coldWrites : 0;
  }

  protected access(count: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    const s = this.shape;
    const base = this.regions[0];
    const hotPages = s.slice * s.vcpus;
    let n = this.n;
    for (let i = 0; i < count; i++, n++) {
      const r = rng.next();
      let page: number;
      if (this.coldEvery > 0 && Math.floor((n + 1) / this.coldEvery) > Math.floor(n / this.coldEvery)) {
        page = hotPages + Math.floor((r * s.cold) / 4294967296);
      } else {
        page = (n % s.vcpus) * s.slice + Math.floor((r * s.slice) / 4294967296);
      }
      const f = mm.store8(base + page, r & 4095, r >>> 24);
      if (f !== 0) this.fault(f, (base + page) * PAGE_SIZE + (r & 4095));
    }
    this.n = n;
  }

  /** Each vCPU's slice gets exactly its share of the hot writes, the cold rest the cold ones. */
  protected override sampleWrites(count: number): boolean {
    const s = this.shape;
    const n = this.n;
    const coldSteps = this.coldEvery > 0 ? Math.floor((n + count) / this.coldEvery) - Math.floor(n / this.coldEvery) : 0;
    const hotSteps = count - coldSteps;
    const base = this.regions[0];
    for (let v = 0; v < s.vcpus; v++) {
      // Step n + j goes to vCPU (n + j) % vcpus, as in access(): the vCPUs take turns.
      const turn = (v - (n % s.vcpus) + s.vcpus) % s.vcpus;
      const writes = Math.floor(hotSteps / s.vcpus) + (turn < hotSteps % s.vcpus ? 1 : 0);
      this.writeSampled(base + v * s.slice, s.slice, 1 - Math.pow(1 - 1 / s.slice, writes));
    }
    if (coldSteps > 0) this.writeSampled(base + s.slice * s.vcpus, s.cold, 1 - Math.pow(1 - 1 / s.cold, coldSteps));
    this.n = n + count;
    return true;
  }

  protected override saveExtra(): Record<string, unknown> {
    return { n: this.n };
  }
}

export const guest: ModelDef = {
  name: 'guest',
  description: 'a VM in the units engineers measure: memory, dirtyRate (as calc-dirty-rate reports), wss, vcpus, zeroFraction',
  params: GUEST_PARAMS,
  check: (p, where) => void guestShape(p, where),
  derive: (p) => {
    const s = guestShape(p);
    p.rate = s.hotWrites + s.coldWrites;
  },
  memoryBytes: (p) => p.memory * PAGE_SIZE,
  create: (ctx: ModelContext) => new GuestProcess(ctx),
};
