/**
 * The contract between a simulated workload process and the rest of tracker (dumper, restorer,
 * `tracker run`). A workload drives one emulated task through the MMU (mm.write8/read8 and the
 * system calls in src/mm); time is virtual: one step is one memory access or one system call.
 */
import type { Kernel, Task } from '../mm/kernel.js';

export interface WorkloadIdentity {
  /** Model name: a built-in model, 'ops' for an op script, 'lackey' for a Valgrind Lackey trace. */
  model: string;
  /** Where it came from: a built-in name, or the file's base name. */
  source: string;
  seed: number;
  /** The resolved parameters (defaults filled in), JSON-serialisable; `rate` is steps per virtual second. */
  params: Record<string, unknown>;
  /**
   * What createWorkload was given, files as absolute paths: enough to start the same process again
   * from scratch (restore --verify).
   */
  spec?: string;
}

/** Small, JSON-serialisable program state: enough to continue exactly where the process stopped. */
export interface WorkloadState {
  identity: WorkloadIdentity;
  steps: number;
  [key: string]: unknown;
}

export interface WorkloadProcess {
  readonly kernel: Kernel;
  readonly task: Task;
  readonly identity: WorkloadIdentity;
  /** Steps executed so far. */
  readonly steps: number;
  /** Steps left before the steady state: the setup system calls and populate writes (0 for none). */
  readonly warmUpSteps?: number;
  /** Advance by `steps` steps. A process whose program has ended stays alive doing nothing. */
  run(steps: number): void;
  /**
   * Set to advance stationary steady states by their effect on memory, in distribution, instead of
   * access by access (models with a fast path: hot-cold, uniform, guest; model.ts sampleWrites).
   */
  fast?: boolean;
  saveState(): WorkloadState;
}
