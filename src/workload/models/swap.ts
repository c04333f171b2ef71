/**
 * swap: hot-cold under memory pressure. Every `pageoutEvery` steps the process is made to give up
 * `pageoutPages` cold pages with madvise(MADV_PAGEOUT) (one step), walking the cold part of the
 * heap round-robin. Cold accesses then fault pages back from swap; soft-dirty travels through the
 * swap pte (_PAGE_SWP_SOFT_DIRTY) on kernels that keep it.
 */
import type { ModelContext, ModelDef } from '../model.js';
import type { ParamSpec, ResolvedParams } from '../params.js';
import { checkHotSet, HOT_COLD_PARAMS, HotColdProcess } from './hot-cold.js';

const SWAP_PARAMS: readonly ParamSpec[] = [
  ...HOT_COLD_PARAMS,
  { name: 'pageoutEvery', kind: 'count', default: 20000, min: 1, description: 'steps between madvise(MADV_PAGEOUT) calls' },
  { name: 'pageoutPages', kind: 'pages', default: '8M', min: 1, description: 'cold pages paged out by each call' },
];

class SwapProcess extends HotColdProcess {
  private pageoutPages = 0;
  /** Offset of the next pageout window within the cold part of the heap. */
  private cursor = 0;

  constructor(ctx: ModelContext) {
    super(ctx, swapModel);
    const extra = ctx.state?.extra;
    if (extra !== undefined && typeof extra.cursor === 'number') this.cursor = extra.cursor;
  }

  protected override configure(p: ResolvedParams): void {
    super.configure(p);
    this.eventEvery = p.pageoutEvery;
    this.pageoutPages = p.pageoutPages;
  }

  protected override event(): number {
    const cold = this.heapSize - this.hotSize;
    if (cold <= 0) return 1;
    if (this.cursor >= cold) this.cursor = 0;
    const pages = Math.min(this.pageoutPages, cold - this.cursor);
    this.sys.madvise(this.regions[0] + this.hotSize + this.cursor, pages, 'pageout');
    this.cursor += pages;
    return 1;
  }

  protected override saveExtra(): Record<string, unknown> {
    return { cursor: this.cursor };
  }
}

export const swapModel: ModelDef = {
  name: 'swap',
  description: 'hot-cold under pressure: cold pages are periodically paged out (MADV_PAGEOUT) and fault back from swap',
  params: SWAP_PARAMS,
  check: checkHotSet,
  create: (ctx: ModelContext) => new SwapProcess(ctx),
};
