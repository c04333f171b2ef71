/**
 * `tracker restore`: the restorer (src/criu/restore.ts) rebuilds the process from its images; this
 * side resumes its program for --resume-steps and, with --verify, compares it with an
 * uninterrupted run of the same workload and seed.
 */
import { ImageError, TrackerError, VerifyError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import { memDigest as memoryDigest } from '../proc/mem-digest.js';
import { restoreImages, type ImagesRestoreReport } from '../criu/restore.js';
import { createWorkload, resumeWorkload } from '../workload/index.js';
import type { WorkloadProcess } from '../workload/process.js';

export interface RestoreReport extends ImagesRestoreReport {
  resumed_steps: number;
  verify: { ran: boolean; uninterrupted_digest: string | null; restored_digest: string | null; identical: boolean | null };
}

export interface RestoreOptions {
  dir: string;
  resumeSteps: number;
  verify: boolean;
  /**
   * A restored memory that differs from the dump's digest, or from an uninterrupted run with
   * verify: VerifyError ('throw', the default), or only in the report (digest_ok, verify.identical).
   */
  onMismatch?: 'throw' | 'report';
}

export function restore(o: RestoreOptions): RestoreReport {
  const { kernel, task, core, inventory, report: restored } = restoreImages(o.dir, { onMismatch: o.onMismatch });
  const report: RestoreReport = {
    ...restored,
    resumed_steps: 0,
    verify: { ran: false, uninterrupted_digest: null, restored_digest: null, identical: null },
  };
  let proc: WorkloadProcess | null = null;
  if (o.resumeSteps > 0 || o.verify) {
    try {
      proc = resumeWorkload(kernel, task, core.state);
    } catch (e) {
      if (e instanceof TrackerError) throw e;
      throw new ImageError(`${o.dir}: core image does not describe a process tracker can resume (${(e as Error).message})`);
    }
    proc.run(o.resumeSteps);
    report.resumed_steps = o.resumeSteps;
  }
  if (o.verify && proc !== null) {
    const id = inventory.workload;
    const ref = new Kernel({ profile: inventory.kernel as never });
    const refProc = createWorkload(ref, workloadSpec(id), id.seed);
    refProc.run(proc.steps);
    const a = memoryDigest(refProc.task);
    const b = memoryDigest(task);
    report.verify = { ran: true, uninterrupted_digest: a, restored_digest: b, identical: a === b };
    if (a !== b && o.onMismatch !== 'report') throw new VerifyError(`--verify: after ${proc.steps} steps the restored process differs from an uninterrupted run (${b.slice(0, 12)} != ${a.slice(0, 12)})`);
  }
  return report;
}

/** The spec createWorkload takes for a workload identity. */
function workloadSpec(id: { source: string; spec?: string }): string {
  return typeof id.spec === 'string' ? id.spec : id.source;
}
