/**
 * `tracker restore`: the restorer (src/criu/restore.ts) rebuilds the process from its images; this
 * side resumes its program for --resume-steps and, with --verify, compares it with an
 * uninterrupted run of the same workload and seed.
 */
import { ImageError, TrackerError, UsageError, VerifyError } from '../errors.js';
import { Kernel } from '../mm/kernel.js';
import { memDigest } from '../proc/mem-digest.js';
import { restoreImages, type ImagesRestoreReport } from '../criu/restore.js';
import { createWorkload, modelOverrides, resumeWorkload, workloadMemoryNeed } from '../workload/index.js';
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
  /** Told as each long phase begins (the CLI's progress on a terminal). */
  onPhase?: (what: string) => void;
}

export function restore(o: RestoreOptions): RestoreReport {
  o.onPhase?.(`restoring ${o.dir}: reading the chain, mapping and filling the pages`);
  const { kernel, task, core, inventory, report: restored } = restoreImages(o.dir, { onMismatch: o.onMismatch });
  if (o.verify && inventory.memoryModel === 'token') {
    throw new UsageError(`${o.dir}: --verify needs images dumped with --memory-model content (these hold pages synthesised from content tokens, which an uninterrupted run does not write); restore without --verify checks the memory digest`);
  }
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
    o.onPhase?.(`resuming the workload for ${o.resumeSteps} steps`);
    proc.run(o.resumeSteps);
    report.resumed_steps = o.resumeSteps;
  }
  if (o.verify && proc !== null) {
    o.onPhase?.(`--verify: running the workload uninterrupted to step ${proc.steps}`);
    const id = inventory.workload;
    const overrides = modelOverrides(id);
    const ref = new Kernel({ profile: inventory.kernel as never, memoryBytes: workloadMemoryNeed(workloadSpec(id), overrides) ?? undefined });
    const refProc = createWorkload(ref, workloadSpec(id), id.seed, overrides);
    refProc.run(proc.steps);
    const a = memDigest(refProc.task);
    const b = memDigest(task);
    report.verify = { ran: true, uninterrupted_digest: a, restored_digest: b, identical: a === b };
    if (a !== b && o.onMismatch !== 'report') throw new VerifyError(`--verify: after ${proc.steps} steps the restored process differs from an uninterrupted run (${b.slice(0, 12)} != ${a.slice(0, 12)})`);
  }
  return report;
}

/** The spec createWorkload takes for a workload identity. */
function workloadSpec(id: { source: string; spec?: string }): string {
  return typeof id.spec === 'string' ? id.spec : id.source;
}
