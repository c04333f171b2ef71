/**
 * An op script (fixtures/spec/ops-language.md) as a workload: one op line is one step, whatever
 * it does (a `write NAME 0 100` storing into 100 pages is one step, as one line of the reference
 * runner is one call into the kernel). Between `fork` and `endchild` the child is alive, and the
 * dumper checkpoints only the main task, so run(n) carries on past n until `endchild`. Observations
 * (pagemap, smaps, errno lines) are discarded: `tracker script` is the command that prints them.
 * When the script ends the process stays alive doing nothing.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { checkInputSize, InputError, ResourceError } from '../errors.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { OpsExecutor, type OpsExecutorState } from '../ops/ops-executor.js';
import { type Op, OpsSyntaxError, parseOps } from '../ops/ops-parser.js';
import type { WorkloadIdentity, WorkloadProcess, WorkloadState } from './process.js';

export interface OpsWorkloadState extends WorkloadState {
  kind: 'ops';
  /** Absolute path of the script, re-read on resume. */
  file: string;
  /** Index of the next op to run. */
  op: number;
  executor: OpsExecutorState;
}

export function loadOps(file: string): Op[] {
  let text: string;
  checkInputSize(file, 'op script');
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read op script ${file}: ${code === 'ENOENT' ? 'no such file' : String(code)}`);
  }
  try {
    return parseOps(text, file);
  } catch (e) {
    if (e instanceof OpsSyntaxError) throw new InputError(`${e.file}:${e.line}: ${e.detail}`);
    throw e;
  }
}

const discard = (): void => {};

export class OpsWorkload implements WorkloadProcess {
  private readonly ex: OpsExecutor;
  private op: number;
  private _steps: number;

  constructor(
    readonly kernel: Kernel,
    readonly task: Task,
    readonly identity: WorkloadIdentity,
    private readonly file: string,
    private readonly ops: Op[],
    state?: OpsWorkloadState,
  ) {
    this.ex = new OpsExecutor(kernel, task, state?.executor);
    this.op = state?.op ?? 0;
    this._steps = state?.steps ?? 0;
  }

  static create(kernel: Kernel, file: string, seed: number, rate: number): OpsWorkload {
    const ops = loadOps(file);
    const task = kernel.spawn(basename(file).slice(0, 15));
    return new OpsWorkload(kernel, task, { model: 'ops', source: basename(file), seed, params: { rate } }, resolve(file), ops);
  }

  static resume(kernel: Kernel, task: Task, state: OpsWorkloadState): OpsWorkload {
    return new OpsWorkload(kernel, task, state.identity, state.file, loadOps(state.file), state);
  }

  get steps(): number {
    return this._steps;
  }

  readonly warmUpSteps = 0;

  /** The script has run to its end. */
  get finished(): boolean {
    return this.op >= this.ops.length;
  }

  run(n: number): void {
    const target = this._steps + n;
    while (this._steps < target || this.ex.inChild) {
      if (this.op >= this.ops.length) {
        // A child left running at the end of the script exits, as the reference runner's does.
        this.ex.finish();
        this._steps = Math.max(this._steps, target);
        return;
      }
      this.ex.exec(this.ops[this.op++], discard);
      this._steps++;
      // The OOM killer killed the simulated process (or a child of it): the machine is too small.
      if (this.ex.oomKills > 0) throw new ResourceError(`op script ${basename(this.file)}: emulated memory exhausted at line ${this.ops[this.op - 1].line}; give the machine more --memory`);
    }
  }

  saveState(): OpsWorkloadState {
    return { identity: this.identity, steps: this._steps, kind: 'ops', file: this.file, op: this.op, executor: this.ex.state() };
  }
}
