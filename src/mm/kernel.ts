import { exitMm, forkMm } from './fork.js';
import type { KernelProfile, KernelProfileName } from './kernel-profile.js';
import { DEFAULT_KERNEL, kernelProfile } from './kernel-profile.js';
import { splitHugePmdAt } from './huge-memory.js';
import { doWpPage, handleMmFault } from './memory.js';
import { type FaultHandlers, Mm, type MmHost } from './mm.js';
import { type MemoryModel, PageAlloc } from './page-alloc.js';
import { SwapDevice } from './swap.js';

export interface KernelOptions {
  profile?: KernelProfileName;
  /** Emulated physical memory in bytes (at most 4 TiB). */
  memoryBytes?: number;
  /** Frames hold bytes ('content', the default) or content tokens ('token'; page-alloc.ts). */
  memoryModel?: MemoryModel;
  /** Physical memory above the zero pages that is never used (pages then get PFNs beyond it). */
  reservedBytes?: number;
  /** Size of the swap device in bytes. */
  swapBytes?: number;
}

export const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024 * 1024 - 4 * 1024 * 1024;
export const DEFAULT_SWAP_BYTES = 512 * 1024 * 1024;

/** A task_struct, as far as memory goes, and the machine it runs on. */
export class Task {
  constructor(
    readonly pid: number,
    readonly comm: string,
    readonly mm: Mm,
    readonly parent: Task | null,
    readonly kernel: Kernel,
  ) {}
}

const FAULTS: FaultHandlers = { handleMmFault, doWpPage, splitHugePmdAt };

/** The machine: physical memory, the swap device, the soft-dirty rules in force, and the tasks. */
export class Kernel implements MmHost {
  readonly profile: KernelProfile;
  readonly faults = FAULTS;
  readonly mem: PageAlloc;
  readonly swap: SwapDevice;
  readonly tasks = new Map<number, Task>();
  /** totalram_pages(): what the overcommit heuristic compares a charge with (with swap). */
  readonly totalramPages: number;
  private nextPid = 100;

  constructor(opts: KernelOptions = {}) {
    this.profile = kernelProfile(opts.profile ?? DEFAULT_KERNEL);
    this.mem = new PageAlloc(opts.memoryBytes ?? DEFAULT_MEMORY_BYTES, opts.memoryModel ?? 'content', opts.reservedBytes ?? 0);
    this.totalramPages = Math.floor((opts.memoryBytes ?? DEFAULT_MEMORY_BYTES) / 4096);
    this.swap = new SwapDevice(opts.swapBytes ?? DEFAULT_SWAP_BYTES);
  }

  /** A new process with an empty address space. */
  spawn(comm: string): Task {
    const t = new Task(this.nextPid++, comm, new Mm(this), null, this);
    this.tasks.set(t.pid, t);
    return t;
  }

  fork(parent: Task): Task {
    const t = new Task(this.nextPid++, parent.comm, forkMm(parent.mm), parent, this);
    this.tasks.set(t.pid, t);
    return t;
  }

  exit(task: Task): void {
    exitMm(task.mm);
    this.tasks.delete(task.pid);
  }

  task(pid: number): Task | undefined {
    return this.tasks.get(pid);
  }
}
