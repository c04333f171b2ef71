/**
 * A process as the checkpointer is handed it: the task (its mm, seen through src/proc) and the
 * program running in it, which tracker records in its images without knowing what it is (CRIU
 * records registers; tracker records a small program state). Workloads implement this.
 */
import type { Kernel, Task } from '../mm/kernel.js';

/** What program runs in a task, recorded in inventory.img. */
export interface ProgramIdentity {
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

/** Small, JSON-serialisable program state (core.img): enough to continue exactly where the process stopped. */
export interface ProgramState {
  identity: ProgramIdentity;
  steps: number;
  [key: string]: unknown;
}

/** The process handle the checkpointer takes: a task and its program's identity and state. */
export interface ProcessHandle {
  readonly kernel: Kernel;
  readonly task: Task;
  readonly identity: ProgramIdentity;
  /** Steps executed so far. */
  readonly steps: number;
  saveState(): ProgramState;
}
