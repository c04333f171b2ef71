/**
 * sequential: a scan through the heap, `stride` bytes per access, wrapping at the end (a streaming
 * writer such as a log or a video encoder). With the default 64-byte stride a page takes 64
 * accesses, so a 200k-step interval dirties ~3125 consecutive pages.
 */
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import { rateParam, type ResolvedParams } from '../params.js';
import { DEFAULT_RATES } from '../clock.js';
import { probabilityThreshold } from '../prng.js';

class SequentialProcess extends ModelProcess {
  private heapBytes = 0;
  private stride = 0;
  private writeT = 0;
  /** Byte offset of the next access within the heap. */
  private cursor = 0;

  constructor(ctx: ModelContext) {
    super(ctx, sequential);
    const extra = ctx.state?.extra;
    if (extra !== undefined && typeof extra.cursor === 'number') this.cursor = extra.cursor;
  }

  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    return [{ pages: p.heap, populate: true }];
  }

  protected configure(p: ResolvedParams): void {
    this.heapBytes = p.heap * PAGE_SIZE;
    this.stride = p.stride;
    this.writeT = probabilityThreshold(p.writeFraction);
  }

  protected access(n: number): void {
    const mm = this.task.mm;
    const rng = this.rng;
    const base = this.regions[0];
    const size = this.heapBytes;
    const stride = this.stride;
    const writeT = this.writeT;
    let cursor = this.cursor;
    for (let i = 0; i < n; i++) {
      const vpn = base + Math.floor(cursor / PAGE_SIZE);
      const r1 = rng.next();
      if (r1 < writeT) {
        const r = mm.store8(vpn, cursor & 4095, r1 & 255);
        if (r !== 0) this.fault(r, base * PAGE_SIZE + cursor);
      } else {
        const r = mm.load8(vpn, cursor & 4095);
        if (r < 0) this.fault(r, base * PAGE_SIZE + cursor);
      }
      cursor += stride;
      if (cursor >= size) cursor %= size;
    }
    this.cursor = cursor;
  }

  protected override saveExtra(): Record<string, unknown> {
    return { cursor: this.cursor };
  }
}

export const sequential: ModelDef = {
  name: 'sequential',
  description: 'a wrapping sequential scan through the heap (streaming writer)',
  params: [
    { name: 'heap', kind: 'pages', default: '128M', min: 1, layout: true, description: 'size of the anonymous heap, mapped and populated at start' },
    { name: 'stride', kind: 'count', default: 64, min: 1, description: 'bytes between consecutive accesses' },
    { name: 'writeFraction', kind: 'fraction', default: 1, description: 'fraction of accesses that are writes' },
    rateParam(DEFAULT_RATES.model, 'a streaming writer: 61 MiB/s with the 64-byte stride'),
  ],
  create: (ctx: ModelContext) => new SequentialProcess(ctx),
};
