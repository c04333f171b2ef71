/**
 * Built-in workload models share one life cycle, driven one step at a time:
 *
 *   setup      one step per system call: mmap each region, madvise(MADV_HUGEPAGE) where asked
 *   populate   one write per page of each populated region, so the first checkpoint finds
 *              realistic resident memory
 *   steady     the model's own access pattern, with an optional periodic event (fork, pageout,
 *              remap) every `eventEvery` steps
 *
 * Phases (from model files) change steady-state parameters at fixed step counts. Everything a
 * process needs to continue is in its WorkloadState: the PRNG words, the program counter, the
 * regions' first pages (never Vma objects: a restore recreates them) and the model's own counters.
 */
import { ResourceError } from '../errors.js';
import { FAULT_OK, FAULT_OOM } from '../mm/errno.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, TaskSyscalls } from '../task/syscalls.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { applyParams, type ParamSpec, type ResolvedParams } from './params.js';
import type { WorkloadIdentity, WorkloadProcess, WorkloadState } from './process.js';
import { type PrngState, Sfc32 } from './prng.js';

export interface RegionSpec {
  pages: number;
  /** madvise(MADV_HUGEPAGE) right after the mmap. */
  huge?: boolean;
  /** Touch every page once before the steady state. */
  populate?: boolean;
  /** MAP_FIXED at this page; otherwise the kernel picks (deterministically) the lowest free range. */
  at?: number;
}

/** A phase: for `steps` steps, these steady-state parameters override the base ones. */
export interface Phase {
  steps: number;
  params: Record<string, unknown>;
}

export interface ModelState extends WorkloadState {
  kind: 'model';
  rng: PrngState;
  /** Setup and populate steps done. */
  pc: number;
  /** First page of each region, in layout order (-1 until mapped). */
  regions: number[];
  untilEvent: number;
  phases: Phase[];
  extra: Record<string, unknown>;
}

export interface ModelContext {
  kernel: Kernel;
  task: Task;
  identity: WorkloadIdentity;
  phases: Phase[];
  state?: ModelState;
}

export interface ModelDef {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  /** Cross-parameter checks (e.g. hot set within the heap); throw InputError naming the field. */
  check?(p: ResolvedParams, where: string): void;
  /** Parameters computed from the others (the guest model's rate), set on the resolved ones. */
  derive?(p: ResolvedParams): void;
  /** Emulated physical memory the model needs beyond a default machine's (large guests). */
  memoryBytes?(p: ResolvedParams): number;
  create(ctx: ModelContext): ModelProcess;
}

export abstract class ModelProcess implements WorkloadProcess {
  readonly kernel: Kernel;
  readonly task: Task;
  readonly identity: WorkloadIdentity;
  /** Its system calls (memory accesses go straight to the MMU: they are the CPU's). */
  protected readonly sys: TaskSyscalls;
  protected readonly rng: Sfc32;
  protected readonly layout: RegionSpec[];
  protected readonly regions: number[];
  /** Steady-state parameters in force (base overridden by the current phase). */
  protected params: ResolvedParams;
  /** Period of the steady-state event in steps; 0 for none. */
  protected eventEvery = 0;
  private untilEvent: number;
  private pc: number;
  private readonly prologue: { region: number; op: 'mmap' | 'huge' }[] = [];
  private readonly populateEnd: number;
  private readonly phases: Phase[];
  private readonly phaseEnds: number[];
  private phase = -1;
  private _steps: number;

  constructor(
    ctx: ModelContext,
    private readonly def: ModelDef,
  ) {
    this.kernel = ctx.kernel;
    this.task = ctx.task;
    this.sys = new TaskSyscalls(ctx.task);
    this.identity = ctx.identity;
    const s = ctx.state;
    this.rng = s !== undefined ? new Sfc32(s.rng) : Sfc32.fromSeed(ctx.identity.seed);
    this.params = { ...(ctx.identity.params as ResolvedParams) };
    this.layout = this.regionLayout(this.params);
    this.regions = s !== undefined ? [...s.regions] : this.layout.map(() => -1);
    this.pc = s?.pc ?? 0;
    this._steps = s?.steps ?? 0;
    this.untilEvent = s?.untilEvent ?? 0;
    this.layout.forEach((r, i) => {
      this.prologue.push({ region: i, op: 'mmap' });
      if (r.huge === true) this.prologue.push({ region: i, op: 'huge' });
    });
    let populate = this.prologue.length;
    for (const r of this.layout) if (r.populate === true) populate += r.pages;
    this.populateEnd = populate;
    this.phases = ctx.phases;
    let end = 0;
    this.phaseEnds = this.phases.map((p) => (end += p.steps));
  }

  get steps(): number {
    return this._steps;
  }

  get warmUpSteps(): number {
    return Math.max(0, this.populateEnd - this.pc);
  }

  /** The regions this model maps, from its (layout) parameters. */
  protected abstract regionLayout(p: ResolvedParams): RegionSpec[];
  /** New steady-state parameters are in force (start, or a phase change). */
  protected abstract configure(p: ResolvedParams): void;
  /** `n` steady-state steps (memory accesses). */
  protected abstract access(n: number): void;
  /**
   * The fast path: advance `n` steady-state steps by their effect on memory instead of one access
   * at a time, where the steady state is stationary: each page class is written at a known rate,
   * so a page of it is written at least once in n steps with probability 1 - (1 - q)^n, and the
   * pages that were are drawn as independent Bernoulli trials (geometric gaps, work in proportion
   * to the pages written). Reads, which only set accessed bits, are left out. Returns false where
   * the model has no fast path (then access(n) runs).
   */
  protected sampleWrites(n: number): boolean {
    void n;
    return false;
  }

  /**
   * Fast path (run() with `fast` set): memory as it would be after the steady-state steps, in
   * distribution, at the cost of the pages written rather than of the steps. Deterministic per seed.
   */
  fast = false;

  /** Write one byte in each page of [first, first + n) with probability p, independently. */
  protected writeSampled(first: number, n: number, p: number): void {
    if (!(p > 0) || n <= 0) return;
    const rng = this.rng;
    const mm = this.task.mm;
    const logQ = p >= 1 ? 0 : Math.log1p(-p);
    for (let i = p >= 1 ? 0 : Math.floor(Math.log((rng.next() + 1) / 4294967296) / logQ); i < n; ) {
      const r = rng.next();
      const addr = (first + i) * PAGE_SIZE + (r & 4095);
      const f = mm.write8(addr, r >>> 24);
      if (f !== FAULT_OK) this.fault(f, addr);
      i += p >= 1 ? 1 : 1 + Math.floor(Math.log((rng.next() + 1) / 4294967296) / logQ);
    }
  }

  /** The periodic event; returns the steps it took (at least 1; may exceed what run() asked). */
  protected event(): number {
    return 1;
  }
  protected saveExtra(): Record<string, unknown> {
    return {};
  }

  run(n: number): void {
    const target = this._steps + n;
    while (this._steps < target) {
      const bound = this.enterPhase();
      if (this.pc < this.populateEnd) {
        this.prologueStep();
        this._steps++;
        continue;
      }
      this._steps += this.steady(Math.min(target, bound) - this._steps);
    }
  }

  /** Make the phase of the current step current; returns the step at which it ends. */
  private enterPhase(): number {
    let i = 0;
    while (i < this.phases.length - 1 && this._steps >= this.phaseEnds[i]) i++;
    if (i !== this.phase) {
      this.phase = i;
      const p = { ...(this.identity.params as ResolvedParams) };
      if (this.phases.length > 0) applyParams(this.def.name, this.def.params, p, this.phases[i].params, 'phase params.', true);
      this.params = p;
      this.configure(p);
    }
    return i < this.phases.length - 1 ? this.phaseEnds[i] : Infinity;
  }

  private prologueStep(): void {
    if (this.pc < this.prologue.length) {
      const { region, op } = this.prologue[this.pc++];
      const spec = this.layout[region];
      if (op === 'mmap') {
        const start = this.sys.mmap({ addr: spec.at, pages: spec.pages, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS | (spec.at !== undefined ? MAP_FIXED : 0) });
        if (start < 0) throw new ResourceError(`workload ${this.identity.model}: mmap of ${spec.pages} pages failed (errno ${-start})`);
        this.regions[region] = start;
      } else {
        this.sys.madvise(this.regions[region], spec.pages, 'hugepage');
      }
      return;
    }
    // Populate: page k of the populated regions, in layout order.
    let k = this.pc++ - this.prologue.length;
    for (let i = 0; i < this.layout.length; i++) {
      const r = this.layout[i];
      if (r.populate !== true) continue;
      if (k < r.pages) {
        this.store((this.regions[i] + k) * PAGE_SIZE, (k * 31 + i) & 255);
        return;
      }
      k -= r.pages;
    }
  }

  private steady(chunk: number): number {
    let done = 0;
    while (done < chunk) {
      if (this.eventEvery > 0 && this.untilEvent <= 0) {
        done += this.event();
        this.untilEvent = this.eventEvery;
        continue;
      }
      let k = chunk - done;
      if (this.eventEvery > 0 && this.untilEvent < k) k = this.untilEvent;
      if (!this.fast || !this.sampleWrites(k)) this.access(k);
      done += k;
      if (this.eventEvery > 0) this.untilEvent -= k;
    }
    return done;
  }

  /** A store that must succeed; only memory exhaustion is an expected failure. */
  protected store(addr: number, value: number): void {
    const r = this.task.mm.write8(addr, value);
    if (r !== FAULT_OK) this.fault(r, addr);
  }

  protected fault(r: number, addr: number): never {
    if (r === FAULT_OOM) throw new ResourceError(`workload ${this.identity.model}: emulated memory exhausted at 0x${addr.toString(16)}; use a smaller heap or more --memory`);
    throw new Error(`workload ${this.identity.model}: access to 0x${addr.toString(16)} faulted (${r}), a workload bug`);
  }

  saveState(): ModelState {
    return {
      identity: this.identity,
      steps: this._steps,
      kind: 'model',
      rng: this.rng.state(),
      pc: this.pc,
      regions: [...this.regions],
      untilEvent: this.untilEvent,
      phases: this.phases,
      extra: this.saveExtra(),
    };
  }
}
