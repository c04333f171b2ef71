/**
 * Virtual time. A workload step (one memory access, one system call, one op-script line, one
 * trace record) lasts 1 / rate virtual seconds, where rate is the workload's own (`tracker
 * workloads` lists the defaults). A WorkloadClock lets a process run for a virtual duration and
 * keeps the fraction of a step left over, so many short runs add up to the same steps as one long
 * one. A throttle (QEMU's auto-converge) slows the rate by a percentage.
 */
import type { WorkloadProcess } from './process.js';

/** A virtual duration as a user gives it: seconds, or a whole number of steps (old scripts). */
export type Duration = { seconds: number } | { steps: number };

/** Default rate of a workload kind, steps per virtual second, when its spec gives none. */
export const DEFAULT_RATES = {
  /** Model steps are memory accesses that reach memory (cache misses): 1 per µs on one thread. */
  model: 1_000_000,
  /** An op-script line is a system call or a store over a range of pages, faults included. */
  ops: 10_000,
  /** Lackey records every instruction fetch and data access of a native run: ~1 per ns. */
  lackey: 1_000_000_000,
} as const;

/** The rate in a workload's identity (its params.rate), steps per virtual second. */
export function workloadRate(proc: Pick<WorkloadProcess, 'identity'>): number {
  const r = proc.identity.params.rate;
  if (typeof r === 'number' && r > 0) return r;
  const kind = proc.identity.model === 'ops' ? 'ops' : proc.identity.model === 'lackey' ? 'lackey' : 'model';
  return DEFAULT_RATES[kind];
}

/** Steps a duration covers at `rate` steps per second. */
export function durationSteps(d: Duration, rate: number): number {
  return 'steps' in d ? d.steps : Math.round(d.seconds * rate);
}

/** Virtual seconds a duration covers at `rate` steps per second. */
export function durationSeconds(d: Duration, rate: number): number {
  return 'steps' in d ? d.steps / rate : d.seconds;
}

/** Steps run between two looks at `check`: a few milliseconds of real time for any workload. */
export const CHECK_EVERY_STEPS = 16384;

/**
 * Run the process for n steps in slices, calling `check` between them (it throws to stop): a long
 * virtual copy at a slow link is many real seconds of workload, and cancellation must not wait
 * for it. The slices end where one run(n) would (run() continues from where it stopped).
 */
export function runChecked(proc: WorkloadProcess, n: number, check?: () => void): void {
  if (check === undefined || n <= CHECK_EVERY_STEPS) {
    if (n > 0) proc.run(n);
    return;
  }
  const target = proc.steps + n;
  while (proc.steps < target) {
    const before = proc.steps;
    proc.run(Math.min(CHECK_EVERY_STEPS, target - proc.steps));
    if (proc.steps === before) return; // a trace that has ended
    check();
  }
}

export class WorkloadClock {
  /** Called between slices of a long run; throws to stop it (the dump's cancellation). */
  check?: () => void;
  /** Virtual seconds since the clock started. */
  now = 0;
  /** Percentage of the time the process is kept from running (QEMU cpu-throttle). */
  throttlePct = 0;
  private carry = 0;
  readonly baseRate: number;

  constructor(readonly proc: WorkloadProcess) {
    this.baseRate = workloadRate(proc);
  }

  /** Steps per virtual second, throttle included. */
  get rate(): number {
    return (this.baseRate * (100 - this.throttlePct)) / 100;
  }

  /** Let the process run for `seconds` of virtual time; returns the steps it ran. */
  runFor(seconds: number): number {
    if (!(seconds > 0)) return 0;
    this.carry += seconds * this.rate;
    // The small epsilon keeps 0.3 s * 1e6 from becoming 299999 steps.
    const n = Math.floor(this.carry + 1e-7);
    this.carry = Math.max(0, this.carry - n);
    const before = this.proc.steps;
    runChecked(this.proc, n, this.check);
    this.now += seconds;
    return this.proc.steps - before;
  }

  /** Run a whole number of steps (a duration given in steps); returns the virtual seconds taken. */
  runSteps(n: number): number {
    if (n <= 0) return 0;
    const before = this.proc.steps;
    runChecked(this.proc, n, this.check);
    const s = (this.proc.steps - before) / this.rate;
    this.now += s;
    return s;
  }

  run(d: Duration): number {
    if ('steps' in d) return this.runSteps(d.steps);
    this.runFor(d.seconds);
    return d.seconds;
  }

  /** Time passes with the process frozen. */
  wait(seconds: number): void {
    if (seconds > 0) this.now += seconds;
  }
}
