/**
 * `tracker plan`: run `dump --iterative` for every combination of policy and bandwidth, each into
 * its own temporary images directory (removed before the combination's result is returned), in
 * worker threads. A combination is a pure function of its options (workload, seed, policy,
 * bandwidth, ...), so the rows do not depend on how many workers run them or in what order; each
 * row is what `tracker dump --iterative` reports for the same options.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ImageError, InputError, IoError, ResourceError, TrackerError, UsageError, VerifyError } from '../errors.js';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type DumpReport, type IterativeDumpOptions } from './iterative.js';
import type { PolicyName } from './policy.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from './timing.js';
import { formatBandwidth, formatBytes, formatSeconds } from './format.js';
import { heatMapFromImages, type HeatMap } from './heatmap.js';
import type { ReportInput, ReportRun } from './report.js';

export interface PlanOptions {
  workload: string;
  seed: number;
  kernel: KernelProfileName;
  bandwidths: number[];
  policies: PolicyName[];
  downtimeLimit: number;
  interval: Duration;
  maxIters?: number;
  iterations?: number;
  minPages?: number;
  maxGrowthPercent?: number;
  preDumpMode?: PreDumpMode;
  autoConverge?: boolean;
  rate?: number;
  memoryBytes?: number;
  /** Worker threads; 0 runs every combination in this thread. */
  jobs: number;
  /** Compute the address-space heat maps (for --report). */
  heatmaps?: boolean;
  /** Where the temporary images directories go (default: the OS temporary directory). */
  tmpRoot?: string;
}

export interface PlanRow {
  policy: PolicyName;
  /** Bytes per second. */
  bandwidth: number;
  iterations: number;
  converged: boolean;
  bytes_sent: number;
  downtime_s: number;
  total_time_s: number;
  /** The downtime is within --downtime-limit. */
  meets_limit: boolean;
  plateau_iteration: number | null;
  stop_reason: string;
}

export interface PlanReport {
  workload: { model: string; source: string; seed: number };
  downtime_limit_s: number;
  interval_s: number;
  rows: PlanRow[];
  best: PlanRow | null;
  recommendation: string;
}

/** One combination's options, as `dump --iterative` takes them (less where the images go). */
export type CombinationOptions = Omit<IterativeDumpOptions, 'imagesDir' | 'force' | 'onIteration' | 'faultPoint'>;

export interface CombinationResult {
  report: DumpReport;
  heatmap: HeatMap | null;
}

export function combinations(o: PlanOptions): CombinationOptions[] {
  const out: CombinationOptions[] = [];
  for (const policy of o.policies) {
    for (const bandwidth of o.bandwidths) {
      out.push({
        workload: o.workload,
        seed: o.seed,
        kernel: o.kernel,
        interval: o.interval,
        policy,
        iterations: o.iterations ?? DEFAULT_DUMP_OPTIONS.iterations,
        maxIters: o.maxIters,
        minPages: o.minPages ?? DEFAULT_DUMP_OPTIONS.minPages,
        maxGrowthPercent: o.maxGrowthPercent ?? DEFAULT_DUMP_OPTIONS.maxGrowthPercent,
        downtimeLimit: o.downtimeLimit,
        // QEMU's throttle belongs to the qemu policy (as dump --iterative refuses it elsewhere).
        autoConverge: policy === 'qemu' && o.autoConverge === true,
        rate: o.rate,
        preDumpMode: o.preDumpMode ?? DEFAULT_DUMP_OPTIONS.preDumpMode,
        bandwidth,
        memoryBytes: o.memoryBytes,
      });
    }
  }
  return out;
}

/** Run one combination into a temporary directory under `tmpRoot`, removed before returning. */
export function runCombination(c: CombinationOptions, tmpRoot: string, heatmap: boolean): CombinationResult {
  const dir = mkdtempSync(join(tmpRoot, 'combination-'));
  try {
    const imagesDir = join(dir, 'images');
    const report = iterativeDump({ ...c, imagesDir, force: false });
    return { report: { ...report, images_dir: '' }, heatmap: heatmap ? heatMapFromImages(imagesDir, report.iterations.length) : null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function planRow(r: DumpReport): PlanRow {
  return {
    policy: r.policy,
    bandwidth: r.bandwidth,
    iterations: r.iterations.length,
    converged: r.converged,
    bytes_sent: r.bytes_sent,
    downtime_s: r.downtime_s,
    total_time_s: r.total_time_s,
    meets_limit: r.downtime_s <= r.downtime_limit_s,
    plateau_iteration: r.plateau_iteration,
    stop_reason: r.stop_reason,
  };
}

/** The combination with the least total time whose downtime meets the limit; ties: fewer bytes. */
export function bestRow(rows: PlanRow[]): PlanRow | null {
  let best: PlanRow | null = null;
  for (const r of rows) {
    if (!r.meets_limit) continue;
    if (best === null || r.total_time_s < best.total_time_s || (r.total_time_s === best.total_time_s && r.bytes_sent < best.bytes_sent)) best = r;
  }
  return best;
}

export function recommend(rows: PlanRow[], limit: number, finalBytes: number[]): string {
  const best = bestRow(rows);
  if (best !== null) {
    return `use ${best.policy} at ${formatBandwidth(best.bandwidth)}: ${best.iterations} iterations, ${formatBytes(best.bytes_sent)} sent, downtime ${formatSeconds(best.downtime_s)} (limit ${formatSeconds(limit)}), migration done in ${formatSeconds(best.total_time_s)}`;
  }
  // None meets the limit: say what would have to change for the one closest to it.
  let k = 0;
  rows.forEach((r, i) => {
    if (r.downtime_s < rows[k].downtime_s) k = i;
  });
  const r = rows[k];
  const need = finalBytes[k] / limit;
  return (
    `no combination keeps the downtime within ${formatSeconds(limit)}; the closest is ${r.policy} at ${formatBandwidth(r.bandwidth)} with ${formatSeconds(r.downtime_s)}: ` +
    `raise --downtime-limit to ${formatSeconds(r.downtime_s)}, or give the link at least ${formatBandwidth(need)} (its final ${formatBytes(finalBytes[k])} in ${formatSeconds(limit)}; a faster link also shrinks what is dirty), or slow the workload (--auto-converge)`
  );
}

interface WorkerReply {
  index: number;
  result?: CombinationResult;
  error?: { name: string; message: string; stack?: string };
}

const ERRORS: Record<string, new (m: string) => TrackerError> = { UsageError, InputError, ImageError, VerifyError, ResourceError, IoError };

function rethrow(e: NonNullable<WorkerReply['error']>): never {
  const C = ERRORS[e.name];
  if (C !== undefined) throw new C(e.message);
  const err = new Error(e.message);
  err.stack = e.stack;
  throw err;
}

async function runInWorkers(tasks: CombinationOptions[], tmpRoot: string, heatmap: boolean, jobs: number): Promise<CombinationResult[]> {
  const results: CombinationResult[] = new Array(tasks.length);
  let next = 0;
  let failure: NonNullable<WorkerReply['error']> | null = null;
  const one = () =>
    new Promise<void>((resolveOne, rejectOne) => {
      const w = new Worker(new URL('./plan-worker.js', import.meta.url), { workerData: { tmpRoot, heatmap } });
      const feed = () => {
        if (next >= tasks.length || failure !== null) {
          void w.terminate().then(() => resolveOne());
          return;
        }
        const index = next++;
        w.postMessage({ index, task: tasks[index] });
      };
      w.on('message', (m: WorkerReply) => {
        if (m.error !== undefined) failure ??= m.error;
        else results[m.index] = m.result!;
        feed();
      });
      w.on('error', rejectOne);
      feed();
    });
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, one));
  if (failure !== null) rethrow(failure);
  return results;
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

export interface PlanOutcome {
  plan: PlanReport;
  results: CombinationResult[];
}

export async function runPlan(o: PlanOptions): Promise<PlanOutcome> {
  if (o.bandwidths.length === 0 || o.policies.length === 0) throw new UsageError('tracker plan needs at least one --bandwidth and one --policy');
  const tasks = combinations(o);
  const tmpRoot = mkdtempSync(join(o.tmpRoot ?? tmpdir(), 'tracker-plan-'));
  let results: CombinationResult[];
  try {
    results = o.jobs <= 0 ? tasks.map((t) => runCombination(t, tmpRoot, o.heatmaps === true)) : await runInWorkers(tasks, tmpRoot, o.heatmaps === true, o.jobs);
  } finally {
    rmSync(tmpRoot, { recursive: true, force: true });
  }
  const rows = results.map((r) => planRow(r.report));
  const first = results[0].report;
  return {
    plan: {
      workload: first.workload,
      downtime_limit_s: o.downtimeLimit,
      interval_s: first.interval_s,
      rows,
      best: bestRow(rows),
      recommendation: recommend(
        rows,
        o.downtimeLimit,
        results.map((r) => r.report.iterations[r.report.iterations.length - 1].bytes_written),
      ),
    },
    results,
  };
}

export function reportRun(r: DumpReport, heatmap: HeatMap | null, label?: string): ReportRun {
  return {
    label: label ?? `${r.policy} @ ${formatBandwidth(r.bandwidth)}`,
    policy: r.policy,
    bandwidth: r.bandwidth,
    converged: r.converged,
    downtime_s: r.downtime_s,
    total_time_s: r.total_time_s,
    bytes_sent: r.bytes_sent,
    stop_reason: r.stop_reason,
    iterations: r.iterations.map((i) => ({
      iteration: i.iteration,
      type: i.type,
      start_s: i.start_s,
      end_s: i.start_s + i.duration_s,
      pages_written: i.pages_written,
      expected_downtime_s: i.expected_downtime_s,
    })),
    heatmap,
  };
}

export function planReportInput(o: PlanOutcome): ReportInput {
  const p = o.plan;
  return {
    title: `tracker plan: ${p.workload.source}, seed ${p.workload.seed}`,
    subtitle: `${p.rows.length} combinations; downtime limit ${formatSeconds(p.downtime_limit_s)}; interval ${formatSeconds(p.interval_s)}; virtual time`,
    downtime_limit_s: p.downtime_limit_s,
    runs: o.results.map((r) => reportRun(r.report, r.heatmap)),
    recommendation: p.recommendation,
  };
}
