/**
 * thp: hot-cold on a heap advised MADV_HUGEPAGE right after its mmap, so it is populated with
 * 2 MiB transparent huge pages. Soft-dirty is tracked per PMD: one write dirties 512 pages until
 * the PMD is split, so dirty counts per interval are coarser than hot-cold's. With the defaults
 * (64 huge pages, ~400 cold writes per 200k steps) every huge page is written in every interval:
 * the whole heap is dirty each time, which is the point of comparing it with hot-cold.
 */
import type { ModelContext, ModelDef } from '../model.js';
import { checkHotSet, HOT_COLD_PARAMS, HotColdProcess } from './hot-cold.js';

class ThpProcess extends HotColdProcess {
  protected override hugeHeap(): boolean {
    return true;
  }
}

export const thp: ModelDef = {
  name: 'thp',
  description: 'hot-cold on a MADV_HUGEPAGE heap: transparent huge pages, soft-dirty per 2 MiB PMD',
  params: HOT_COLD_PARAMS,
  check: checkHotSet,
  create: (ctx: ModelContext) => new ThpProcess(ctx, thp),
};
