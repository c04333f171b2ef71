/**
 * idle: maps and populates a heap, then does nothing (steps still count). After the first
 * pre-dump nothing is dirty: the best case, and a check that tracking reports no false positives.
 */
import { type ModelContext, type ModelDef, ModelProcess, type RegionSpec } from '../model.js';
import { rateParam, type ResolvedParams } from '../params.js';
import { DEFAULT_RATES } from '../clock.js';

class IdleProcess extends ModelProcess {
  protected regionLayout(p: ResolvedParams): RegionSpec[] {
    return [{ pages: p.heap, populate: true }];
  }

  protected configure(): void {}

  protected access(): void {}
}

export const idle: ModelDef = {
  name: 'idle',
  description: 'populates a heap, then sleeps: nothing is dirtied after the first interval',
  params: [
    { name: 'heap', kind: 'pages', default: '64M', min: 1, layout: true, description: 'size of the anonymous heap, mapped and populated at start' },
    rateParam(DEFAULT_RATES.model, 'paces its populate; asleep afterwards'),
  ],
  create: (ctx: ModelContext) => new IdleProcess(ctx, idle),
};
