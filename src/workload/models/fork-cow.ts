/**
 * fork-cow: hot-cold whose process forks every `forkEvery` steps; the child writes `childWrites`
 * random heap pages (copy-on-write breaks them apart from the parent) and exits. fork, each child
 * write and exit are one step each. The child always ends inside the run() call that forked it,
 * because the dumper checkpoints only the main task: run(n) may therefore return up to
 * childWrites + 1 steps after the n asked for. The access sequence does not depend on how steps
 * are split into run() calls.
 *
 * After the child exits, the parent's pages are write-protected (fork did that for COW): its next
 * write to each faults and reuses the page, keeping soft-dirty semantics visible.
 */
import { FAULT_OK } from '../../mm/errno.js';
import { PAGE_SIZE } from '../../mm/pgtable-types.js';
import type { ModelContext, ModelDef } from '../model.js';
import type { ParamSpec, ResolvedParams } from '../params.js';
import { checkHotSet, HOT_COLD_PARAMS, HotColdProcess } from './hot-cold.js';

const FORK_COW_PARAMS: readonly ParamSpec[] = [
  ...HOT_COLD_PARAMS,
  { name: 'forkEvery', kind: 'count', default: 100000, min: 1, description: 'steps between forks' },
  { name: 'childWrites', kind: 'count', default: 64, description: 'random heap pages each child writes before it exits' },
];

class ForkCowProcess extends HotColdProcess {
  private childWrites = 0;
  /** Children forked so far (for stats and tests). */
  forks = 0;

  constructor(ctx: ModelContext) {
    super(ctx, forkCow);
    const extra = ctx.state?.extra;
    if (extra !== undefined && typeof extra.forks === 'number') this.forks = extra.forks;
  }

  protected override configure(p: ResolvedParams): void {
    super.configure(p);
    this.eventEvery = p.forkEvery;
    this.childWrites = p.childWrites;
  }

  protected override event(): number {
    const child = this.kernel.fork(this.task);
    this.forks++;
    for (let i = 0; i < this.childWrites; i++) {
      const addr = this.randomHeapPage() * PAGE_SIZE;
      const r = child.mm.write8(addr, (this.forks + i) & 255);
      if (r !== FAULT_OK) {
        this.kernel.exit(child);
        this.fault(r, addr);
      }
    }
    this.kernel.exit(child);
    return this.childWrites + 2;
  }

  protected override saveExtra(): Record<string, unknown> {
    return { forks: this.forks };
  }
}

export const forkCow: ModelDef = {
  name: 'fork-cow',
  description: 'hot-cold that forks periodically; each child writes a few pages (copy-on-write) and exits',
  params: FORK_COW_PARAMS,
  check: checkHotSet,
  create: (ctx: ModelContext) => new ForkCowProcess(ctx),
};
