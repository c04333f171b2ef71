/**
 * A Valgrind Lackey trace replayed as a workload. One trace record is one step:
 *  - L: a load (read8 at the address), S: a store, M: a modify (both store a byte derived from
 *    the address and the record number, so memory changes from record to record);
 *  - an access that crosses a page boundary touches the last byte too (both pages are accessed);
 *  - I (instruction fetch) is a step without a data access: code pages would be file-backed
 *    text, which tracker neither dumps nor tracks.
 * Address space: the first access to an unmapped 2 MiB region maps it (anonymous, rw, MAP_FIXED
 * at the 2 MiB-aligned address), so the replay's VMAs cover exactly the traced regions. Addresses
 * beyond the 47-bit user address space are skipped. After the trace ends the process idles.
 * State: the trace's path, the byte offset of the next record and the records replayed.
 */
import { basename, resolve } from 'node:path';
import { ResourceError } from '../errors.js';
import { FAULT_SIGSEGV } from '../mm/errno.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { TASK_SIZE_VPN } from '../mm/mmap.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, TaskSyscalls } from '../task/syscalls.js';
import { HPAGE_PMD_NR, PAGE_SIZE } from '../mm/pgtable-types.js';
import { LACKEY_END, LACKEY_INSTR, LACKEY_LOAD, LackeyReader } from './lackey-reader.js';
import type { WorkloadIdentity, WorkloadProcess, WorkloadState } from './process.js';

const TASK_SIZE = TASK_SIZE_VPN * PAGE_SIZE;

export interface LackeyWorkloadState extends WorkloadState {
  kind: 'lackey';
  file: string;
  offset: number;
  records: number;
}

export class LackeyWorkload implements WorkloadProcess {
  private readonly reader: LackeyReader;
  private records: number;
  private _steps: number;
  private ended = false;
  /** 2 MiB regions this replay mapped (for stats). */
  regionsMapped = 0;

  constructor(
    readonly kernel: Kernel,
    readonly task: Task,
    readonly identity: WorkloadIdentity,
    private readonly file: string,
    state?: LackeyWorkloadState,
    reader?: LackeyReader,
  ) {
    this.reader = reader ?? new LackeyReader(file, state?.offset ?? 0);
    this.records = state?.records ?? 0;
    this._steps = state?.steps ?? 0;
  }

  static create(kernel: Kernel, file: string, seed: number, rate: number): LackeyWorkload {
    const abs = resolve(file);
    const reader = new LackeyReader(abs);
    reader.probe(); // a file that is not a trace fails before a task is spawned
    const task = kernel.spawn(basename(file).slice(0, 15));
    return new LackeyWorkload(kernel, task, { model: 'lackey', source: basename(file), seed, params: { rate } }, abs, undefined, reader);
  }

  static resume(kernel: Kernel, task: Task, state: LackeyWorkloadState): LackeyWorkload {
    return new LackeyWorkload(kernel, task, state.identity, state.file, state);
  }

  get steps(): number {
    return this._steps;
  }

  readonly warmUpSteps = 0;

  /** Trace records replayed so far. */
  get recordsReplayed(): number {
    return this.records;
  }

  get finished(): boolean {
    return this.ended;
  }

  run(n: number): void {
    const reader = this.reader;
    let i = 0;
    while (i < n && !this.ended) {
      const kind = reader.next();
      if (kind === LACKEY_END) {
        this.ended = true;
        break;
      }
      i++;
      const rec = this.records++;
      if (kind === LACKEY_INSTR) continue;
      const addr = reader.addr;
      const last = addr + (reader.size > 0 ? reader.size - 1 : 0);
      if (last >= TASK_SIZE) continue;
      const value = (Math.imul(rec, 0x9e3779b1) >>> 24) ^ (addr & 255);
      const write = kind !== LACKEY_LOAD;
      this.access(addr, write, value);
      if (Math.floor(addr / PAGE_SIZE) !== Math.floor(last / PAGE_SIZE)) this.access(last, write, value);
    }
    this._steps += n;
  }

  private access(addr: number, write: boolean, value: number): void {
    const mm = this.task.mm;
    let r = write ? mm.write8(addr, value) : mm.read8(addr);
    if (r === FAULT_SIGSEGV) {
      const region = Math.floor(addr / PAGE_SIZE / HPAGE_PMD_NR) * HPAGE_PMD_NR;
      const m = new TaskSyscalls(this.task).mmap({ addr: region, pages: HPAGE_PMD_NR, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
      if (m < 0) throw new ResourceError(`Lackey replay: cannot map the region at 0x${(region * PAGE_SIZE).toString(16)} (errno ${-m})`);
      this.regionsMapped++;
      r = write ? mm.write8(addr, value) : mm.read8(addr);
    }
    if (r < 0) throw new ResourceError(`Lackey replay: access to 0x${addr.toString(16)} failed (${r}): emulated memory exhausted?`);
  }

  saveState(): LackeyWorkloadState {
    return { identity: this.identity, steps: this._steps, kind: 'lackey', file: this.file, offset: this.reader.offset, records: this.records };
  }
}
