/**
 * churn: a set of buffers that are written at random and, every `churnEvery` steps, remapped: one
 * buffer is unmapped (and later mapped again with MAP_FIXED at the address it freed), shrunk or
 * grown in place with mremap, or moved with mremap(MREMAP_MAYMOVE|MREMAP_FIXED) between its two
 * slots. A range unmapped and mapped again must look entirely new to a soft-dirty tracker: this is
 * what VM_SOFTDIRTY exists for (and what the seed kernel gets wrong).
 *
 * Layout: buffer b owns slots 2b and 2b+1, each 2 MiB aligned with a 2 MiB gap after the largest
 * buffer, so buffers never merge and an in-place grow always has room.
 */
import { InputError, ResourceError } from '../../errors.js';
import { DEFAULT_MEMORY_BYTES } from '../../mm/kernel.js';
import { MMAP_BASE_VPN } from '../../mm/mmap.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE } from '../../task/syscalls.js';
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import { rateParam, type ResolvedParams } from '../params.js';
import { DEFAULT_RATES } from '../clock.js';
import { probabilityThreshold } from '../prng.js';

/** Pages from one slot to the next: the buffer rounded up to 2 MiB, plus a 2 MiB gap. */
function slotStride(bufferPages: number): number {
  return (Math.ceil(bufferPages / 512) + 1) * 512;
}

class ChurnProcess extends ModelProcess {
  private readonly bufferPages: number;
  private readonly slotStride: number;
  private writeT = 0;
  /** Mapped pages of each buffer (0 when unmapped). */
  private readonly pages: Int32Array;
  /** Which of its two slots each buffer is in. */
  private readonly where: Uint8Array;

  constructor(ctx: ModelContext) {
    super(ctx, churn);
    const p = ctx.identity.params as ResolvedParams;
    this.bufferPages = p.bufferSize;
    this.slotStride = slotStride(p.bufferSize);
    this.pages = new Int32Array(p.buffers);
    this.where = new Uint8Array(p.buffers);
    const extra = ctx.state?.extra;
    if (extra !== undefined && Array.isArray(extra.pages) && Array.isArray(extra.where)) {
      this.pages.set(extra.pages as number[]);
      this.where.set(extra.where as number[]);
    } else this.pages.fill(p.bufferSize);
  }

  private slot(b: number, w: number): number {
    return MMAP_BASE_VPN + (2 * b + w) * this.slotStride;
  }

  /** Called by the base constructor, before this class's fields exist: uses only `p`. */
  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    const stride = slotStride(p.bufferSize);
    const out: RegionSpec[] = [];
    for (let b = 0; b < p.buffers; b++) out.push({ pages: p.bufferSize, populate: true, at: MMAP_BASE_VPN + 2 * b * stride });
    return out;
  }

  protected configure(p: ResolvedParams): void {
    this.eventEvery = p.churnEvery;
    this.writeT = probabilityThreshold(p.writeFraction);
  }

  protected access(n: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    const nb = this.pages.length;
    const writeT = this.writeT;
    for (let i = 0; i < n; i++) {
      const b = rng.below(nb);
      const r2 = rng.next();
      const pages = this.pages[b];
      // An unmapped buffer: the step passes without an access (the program checks and skips it).
      if (pages === 0) continue;
      const vpn = this.slot(b, this.where[b]) + Math.floor((r2 * pages) / 4294967296);
      if (r2 < writeT) {
        const r = mm.store8(vpn, r2 & 4095, r2 >>> 24);
        if (r !== 0) this.fault(r, vpn * PAGE_SIZE + (r2 & 4095));
      } else {
        const r = mm.load8(vpn, r2 & 4095);
        if (r < 0) this.fault(r, vpn * PAGE_SIZE + (r2 & 4095));
      }
    }
  }

  protected override event(): number {
    const b = this.rng.below(this.pages.length);
    const action = this.rng.below(3);
    const full = this.bufferPages;
    const start = this.slot(b, this.where[b]);
    const pages = this.pages[b];
    let r = 0;
    if (pages === 0) {
      r = this.sys.mmap({ addr: start, pages: full, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
      this.pages[b] = full;
    } else if (action === 0) {
      r = this.sys.munmap(start, pages);
      this.pages[b] = 0;
    } else if (action === 1) {
      const to = pages === full ? Math.max(1, full >>> 1) : full;
      r = this.sys.mremap(start, pages, to, 0);
      this.pages[b] = to;
    } else {
      const w = this.where[b] ^ 1;
      r = this.sys.mremap(start, pages, pages, MREMAP_MAYMOVE | MREMAP_FIXED, this.slot(b, w));
      this.where[b] = w;
    }
    if (r < 0) throw new ResourceError(`workload churn: remapping buffer ${b} failed (errno ${-r})`);
    return 1;
  }

  protected override saveExtra(): Record<string, unknown> {
    return { pages: [...this.pages], where: [...this.where] };
  }
}

export const churn: ModelDef = {
  name: 'churn',
  description: 'buffers written at random and periodically unmapped/remapped at the same address, resized and moved (VM_SOFTDIRTY)',
  params: [
    { name: 'buffers', kind: 'count', default: 16, min: 1, layout: true, description: 'number of buffers' },
    { name: 'bufferSize', kind: 'pages', default: '1M', min: 1, layout: true, description: 'size of each buffer' },
    { name: 'churnEvery', kind: 'count', default: 5000, min: 1, description: 'steps between remapping system calls' },
    { name: 'writeFraction', kind: 'fraction', default: 0.8, description: 'fraction of accesses that are writes' },
    rateParam(DEFAULT_RATES.model, 'like hot-cold, ~1 µs per access'),
  ],
  // Every buffer is populated at start: more than the largest machine holds is refused before a
  // layout of that many buffers is built.
  check(p, where) {
    const pages = p.buffers * p.bufferSize;
    const most = Math.floor(DEFAULT_MEMORY_BYTES / PAGE_SIZE);
    if (pages > most) {
      throw new InputError(`${where}buffers: ${p.buffers} buffers of ${p.bufferSize} pages populate ${pages} pages, more than the largest emulated machine holds (${most} pages, 4 GiB); use at most ${Math.max(1, Math.floor(most / p.bufferSize))} buffers of this size`);
    }
  },
  create: (ctx: ModelContext) => new ChurnProcess(ctx),
};
