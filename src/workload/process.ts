/**
 * The contract between a simulated workload process and the rest of tracker (dumper, restorer,
 * `tracker run`). A workload drives one emulated task through the MMU (mm.write8/read8 and the
 * system calls in src/mm); time is virtual: one step is one memory access or one system call.
 * The checkpointer sees it only as a ProcessHandle (src/task/process.ts).
 */
import type { ProcessHandle, ProgramIdentity, ProgramState } from '../task/process.js';

export type WorkloadIdentity = ProgramIdentity;
export type WorkloadState = ProgramState;

export interface WorkloadProcess extends ProcessHandle {
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
