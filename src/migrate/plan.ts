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
import { InterruptedError, reviveError, UsageError, type SerializedError } from '../errors.js';
import { countedDumps, DEFAULT_DUMP_OPTIONS, iterativeDump, type CancelSignal, type DumpReport, type IterativeDumpOptions } from './iterative.js';
import { isCriuDriven, type PolicyName } from './policy.js';
import type { TrackBackend } from '../criu/track.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import type { Duration } from '../workload/clock.js';
import type { PreDumpMode } from './timing.js';
import { formatBandwidth, formatBytes, formatSeconds } from './format.js';
import { heatMap, heatMapFromImages, type HeatMap } from './heatmap.js';
import type { CountedIteration } from '../criu/page-xfer-count.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { checkFits } from './capacity.js';
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
  /** Model parameters over the workload's (--param). */
  params?: Record<string, unknown>;
  /** How frames hold their contents; the plan reads no page bytes, so 'token' costs least. */
  memoryModel?: MemoryModel;
  /** Stationary steady states by sampled page writes (model.ts). */
  fast?: boolean;
  /** Write each combination's images to a temporary directory, as dump --iterative does (default: count them, write nothing). */
  images?: boolean;
  memoryBytes?: number;
  /** Worker threads; 0 runs every combination in this thread. */
  jobs: number;
  /** Compute the address-space heat maps (for --report). */
  heatmaps?: boolean;
  /** Where the temporary images directories go (default: the OS temporary directory). */
  tmpRoot?: string;
  /** The engines' settings (QEMU, CRIU fixed costs, KubeVirt), the same for every combination. */
  engine?: Partial<IterativeDumpOptions>;
  /** Seeds per combination, from `seed` on (default 1): rows then give min, median and max. */
  seeds?: number;
  /**
   * --track a,b,...: every combination once per tracking backend, each counting its false
   * positives against the truly written set. Undefined: the kernel's default backend, uncounted.
   */
  tracks?: TrackBackend[];
  /**
   * Set to non-zero (Atomics) to stop: each running combination stops at its next safe point and
   * removes its images, and runPlan fails with InterruptedError once all have.
   */
  abort?: SharedArrayBuffer;
  /** Told as each combination finishes (progress). */
  onProgress?: (done: number, total: number) => void;
  /** Told as an iteration of a combination that runs alone starts: a 1 TiB guest's combination takes minutes. */
  onIteration?: (c: CombinationOptions, iteration: number) => void;
}

/** An iteration begun in a combination that runs alone (group `index`). */
export type IterationTick = (iteration: number) => void;

export interface PlanRow {
  /** The tracking backend. */
  track: TrackBackend;
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
  /** Pages copied over all iterations. */
  pages_written: number;
  /** Of those, pages nothing wrote since the iteration before (null without --track). */
  false_positives: number | null;
  /** Frozen time of all iterations, seconds. */
  frozen_s: number;
  /** The downtime limit less the downtime: the headroom (negative: over the limit). */
  margin_s: number;
  outcome: DumpReport['outcome'];
  /** With --seeds N > 1: [min, median, max] over the seeds; the row's own figures are the medians. */
  spread?: RowSpread;
}

export interface RowSpread {
  seeds: number;
  /** Seeds whose downtime met the limit. */
  met: number;
  downtime_s: [number, number, number];
  total_time_s: [number, number, number];
  bytes_sent: [number, number, number];
  iterations: [number, number, number];
}

/** The answer for one link speed: does pre-copy converge there, how, and with what margin. */
export interface BandwidthAnswer {
  bandwidth: number;
  converges: boolean;
  /** The fastest policy that meets the limit here (null: none does). */
  policy: PolicyName | null;
  downtime_s: number | null;
  margin_s: number | null;
  total_time_s: number | null;
  /** [min, median, max] of that policy's downtime over the seeds (with --seeds). */
  downtime_spread: [number, number, number] | null;
  /** When nothing converges: the closest row, and what would make it converge. */
  closest: { policy: PolicyName; downtime_s: number } | null;
  /** The downtime limit at which the closest row's downtime would be accepted. */
  break_even_downtime_limit_s: number | null;
  /** The lowest planned bandwidth at which something converges, or an estimate (final bytes / limit) marked so. */
  break_even_bandwidth: number | null;
  break_even_bandwidth_estimated: boolean;
  summary: string;
}

export interface PlanReport {
  workload: { model: string; source: string; seed: number };
  downtime_limit_s: number;
  interval_s: number;
  rows: PlanRow[];
  best: PlanRow | null;
  recommendation: string;
  /** Per bandwidth: converges or not, with which policy, the downtime and its margin; else the break-even. */
  answers: BandwidthAnswer[];
  seeds: number;
}

/** One combination's options, as `dump --iterative` takes them (less where the images go). */
export type CombinationOptions = Omit<IterativeDumpOptions, 'imagesDir' | 'force' | 'onIteration' | 'faultPoint' | 'count'> & {
  /** Write the images (to a temporary directory) instead of counting them. */
  images?: boolean;
};

export interface CombinationResult {
  report: DumpReport;
  heatmap: HeatMap | null;
}

/** Counting reads no page bytes: token memory unless asked otherwise (or images are written). */
function planMemoryModel(o: PlanOptions): MemoryModel {
  return o.memoryModel ?? (o.images === true ? 'content' : 'token');
}

export function combinations(o: PlanOptions): CombinationOptions[] {
  const out: CombinationOptions[] = [];
  // Seed by seed: planOutcome gathers a row's seeds at the same index in each block.
  for (let k = 0; k < Math.max(1, o.seeds ?? 1); k++) {
  for (const track of o.tracks ?? [undefined]) for (const policy of o.policies) {
    for (const bandwidth of o.bandwidths) {
      out.push({
        ...(track === undefined ? {} : { track, truth: true }),
        workload: o.workload,
        seed: o.seed + k,
        kernel: o.kernel,
        interval: o.interval,
        policy,
        iterations: o.iterations ?? DEFAULT_DUMP_OPTIONS.iterations,
        maxIters: o.maxIters,
        minPages: o.minPages ?? DEFAULT_DUMP_OPTIONS.minPages,
        maxGrowthPercent: o.maxGrowthPercent ?? DEFAULT_DUMP_OPTIONS.maxGrowthPercent,
        downtimeLimit: o.downtimeLimit,
        // QEMU's throttle belongs to QEMU's policies (as dump --iterative refuses it elsewhere).
        autoConverge: (policy === 'qemu' || policy === 'kubevirt' || policy === 'qemu-pass') && o.autoConverge === true,
        rate: o.rate,
        params: o.params,
        memoryModel: planMemoryModel(o),
        fast: o.fast,
        images: o.images,
        preDumpMode: o.preDumpMode ?? DEFAULT_DUMP_OPTIONS.preDumpMode,
        bandwidth,
        memoryBytes: o.memoryBytes,
        ...o.engine,
      });
    }
  }
  }
  return out;
}

/** Run one combination into a temporary directory under `tmpRoot`, removed before returning. */
export function runCombination(c: CombinationOptions, tmpRoot: string, heatmap: boolean, signal?: CancelSignal, tick?: IterationTick): CombinationResult {
  const onIteration = tick === undefined ? undefined : (s: { iteration: number }, phase: 'start' | 'done') => phase === 'start' && tick(s.iteration);
  if (c.images !== true) {
    // A counting page-xfer: the same rows, nothing written (page-xfer-count.ts).
    const count = { keep: heatmap, iterations: [] as CountedIteration[] };
    const report = iterativeDump({ ...c, imagesDir: '', force: false, count, signal, onIteration });
    const its = count.iterations;
    return { report, heatmap: heatmap ? heatMap(its[its.length - 1].mm!, its.map((i) => i.pagemap!)) : null };
  }
  const dir = mkdtempSync(join(tmpRoot, 'combination-'));
  try {
    const imagesDir = join(dir, 'images');
    const report = iterativeDump({ ...c, imagesDir, force: false, signal, onIteration });
    return { report: { ...report, images_dir: '' }, heatmap: heatmap ? heatMapFromImages(imagesDir, report.iterations.length) : null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function planRow(r: DumpReport): PlanRow {
  return {
    track: r.track,
    policy: r.policy,
    bandwidth: r.bandwidth,
    iterations: r.iterations.length,
    converged: r.converged,
    bytes_sent: r.bytes_sent,
    downtime_s: r.downtime_s,
    total_time_s: r.total_time_s,
    meets_limit: r.downtime_s <= r.downtime_limit_s && r.outcome !== 'aborted',
    plateau_iteration: r.plateau_iteration,
    stop_reason: r.stop_reason,
    margin_s: r.downtime_limit_s - r.downtime_s,
    outcome: r.outcome,
    pages_written: r.totals.pages_written,
    false_positives: r.totals.false_positives,
    frozen_s: r.totals.frozen_time / 1e6,
  };
}

function spread3(v: number[]): [number, number, number] {
  const s = [...v].sort((a, b) => a - b);
  return [s[0], s[(s.length - 1) >> 1], s[s.length - 1]];
}

/**
 * One row per policy and bandwidth over the seeds: the medians, with [min, median, max]; it meets
 * the limit only when every seed did (a plan should hold whatever the workload's luck).
 */
export function seedRow(rows: PlanRow[]): PlanRow {
  if (rows.length === 1) return rows[0];
  const med = (f: (r: PlanRow) => number) => spread3(rows.map(f));
  const downtime = med((r) => r.downtime_s);
  const k = rows.findIndex((r) => r.downtime_s === downtime[1]);
  const mid = rows[k];
  const met = rows.filter((r) => r.meets_limit).length;
  const total = med((r) => r.total_time_s);
  const bytes = med((r) => r.bytes_sent);
  const its = med((r) => r.iterations);
  return {
    ...mid,
    total_time_s: total[1],
    bytes_sent: bytes[1],
    iterations: its[1],
    converged: rows.filter((r) => r.converged).length * 2 > rows.length,
    meets_limit: met === rows.length,
    spread: { seeds: rows.length, met, downtime_s: downtime, total_time_s: total, bytes_sent: bytes, iterations: its },
  };
}

/** Per bandwidth: the fastest row that meets the limit; else the closest, and what would make it converge. */
export function bandwidthAnswers(rows: PlanRow[], limit: number, finalBytes: (r: PlanRow) => number): BandwidthAnswer[] {
  const bws = [...new Set(rows.map((r) => r.bandwidth))].sort((a, b) => a - b);
  const meeting = (bw: number) => rows.filter((r) => r.bandwidth === bw && r.meets_limit);
  return bws.map((bw) => {
    const best = bestRow(meeting(bw));
    if (best !== null) {
      const sp = best.spread?.downtime_s ?? null;
      return {
        bandwidth: bw,
        converges: true,
        policy: best.policy,
        downtime_s: best.downtime_s,
        margin_s: best.margin_s,
        total_time_s: best.total_time_s,
        downtime_spread: sp,
        closest: null,
        break_even_downtime_limit_s: null,
        break_even_bandwidth: null,
        break_even_bandwidth_estimated: false,
        summary: `converges with ${best.policy}${best.outcome === 'converged' || best.outcome === 'not converged' ? '' : ` (${best.outcome})`}: downtime ${formatSeconds(best.downtime_s)}${sp !== null ? ` (${formatSeconds(sp[0])}-${formatSeconds(sp[2])} over ${best.spread!.seeds} seeds)` : ''}, ${formatSeconds(best.margin_s)} under the limit, done in ${formatSeconds(best.total_time_s)}`,
      };
    }
    const here = rows.filter((r) => r.bandwidth === bw && r.outcome !== 'aborted');
    const pool = here.length > 0 ? here : rows.filter((r) => r.bandwidth === bw);
    let closest = pool[0];
    for (const r of pool) if (r.downtime_s < closest.downtime_s) closest = r;
    const limitNeeded = closest.spread?.downtime_s[2] ?? closest.downtime_s;
    const faster = bws.find((b) => b > bw && meeting(b).length > 0);
    const estimate = finalBytes(closest) / limit;
    const bwNeeded = faster ?? estimate;
    return {
      bandwidth: bw,
      converges: false,
      policy: null,
      downtime_s: null,
      margin_s: null,
      total_time_s: null,
      downtime_spread: null,
      closest: { policy: closest.policy, downtime_s: closest.downtime_s },
      break_even_downtime_limit_s: limitNeeded,
      break_even_bandwidth: bwNeeded,
      break_even_bandwidth_estimated: faster === undefined,
      summary:
        `does not converge: the closest is ${closest.policy} with ${formatSeconds(closest.downtime_s)} (${formatSeconds(closest.downtime_s - limit)} over); ` +
        `it would with --downtime-limit ${formatSeconds(limitNeeded)}, or ${faster !== undefined ? `at ${formatBandwidth(faster)} (planned)` : `at about ${formatBandwidth(estimate)} (its final ${formatBytes(finalBytes(closest))} in ${formatSeconds(limit)}; an estimate)`}`,
    };
  });
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
    // With --track a,b,...: say which backend, too.
    const tracked = new Set(rows.map((r) => r.track)).size > 1 ? ` with --track ${best.track}` : '';
    return `use ${best.policy}${tracked} at ${formatBandwidth(best.bandwidth)}: ${best.iterations} iterations, ${formatBytes(best.bytes_sent)} sent, downtime ${formatSeconds(best.downtime_s)} (limit ${formatSeconds(limit)}), migration done in ${formatSeconds(best.total_time_s)}`;
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
  /** An iteration begun (the group is still running). */
  iteration?: number;
  results?: CombinationResult[];
  error?: SerializedError;
}

/**
 * Combinations that differ only in their policy share their pre-dumps until a policy stops
 * (countedDumps): one group each, when nothing is written. Groups keep the table order inside.
 */
function groupCombinations(tasks: CombinationOptions[]): number[][] {
  const groups = new Map<string, number[]>();
  tasks.forEach((t, i) => {
    // Only CRIU-driven policies run the same pre-dump loop with the same fixed costs; QEMU's
    // engines (qemu, kubevirt) and qemu-pass each run alone.
    const key = t.images === true || !isCriuDriven(t.policy) ? `#${i}` : JSON.stringify({ ...t, policy: null });
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [i]);
    else g.push(i);
  });
  return [...groups.values()];
}

/** Run one group of combinations (plan-worker.ts runs this too). */
export function runGroup(group: CombinationOptions[], tmpRoot: string, heatmap: boolean, signal?: CancelSignal, tick?: IterationTick): CombinationResult[] {
  if (group.length === 1) return [runCombination(group[0], tmpRoot, heatmap, signal, tick)];
  return countedDumps({ ...group[0], signal }, group.map((t) => t.policy), heatmap).map(({ report, counted }) => ({
    report,
    heatmap: heatmap ? heatMap(counted[counted.length - 1].mm!, counted.map((i) => i.pagemap!)) : null,
  }));
}

/** The CancelSignal of a shared abort word. */
export function sharedSignal(abort: SharedArrayBuffer | undefined): CancelSignal | undefined {
  if (abort === undefined) return undefined;
  const flag = new Int32Array(abort);
  return {
    get aborted() {
      return Atomics.load(flag, 0) !== 0;
    },
  };
}

const INTERRUPTED = 'plan interrupted; the combinations\' temporary images were removed';

async function runInWorkers(groups: CombinationOptions[][], tmpRoot: string, heatmap: boolean, jobs: number, o: PlanOptions): Promise<CombinationResult[][]> {
  const tasks = groups;
  // Progress counts combinations, whatever groups they ran in.
  const total = groups.reduce((n, g) => n + g.length, 0);
  const results: CombinationResult[][] = new Array(tasks.length);
  let next = 0;
  let finished = 0;
  let failure: NonNullable<WorkerReply['error']> | null = null;
  const aborted = sharedSignal(o.abort);
  const one = () =>
    new Promise<void>((resolveOne, rejectOne) => {
      const w = new Worker(new URL('./plan-worker.js', import.meta.url), { workerData: { tmpRoot, heatmap, abort: o.abort } });
      const feed = () => {
        if (next >= tasks.length || failure !== null || aborted?.aborted === true) {
          void w.terminate().then(() => resolveOne());
          return;
        }
        const index = next++;
        w.postMessage({ index, group: tasks[index] });
      };
      w.on('message', (m: WorkerReply) => {
        if (m.iteration !== undefined) {
          o.onIteration?.(tasks[m.index][0], m.iteration);
          return;
        }
        if (m.error !== undefined) failure ??= m.error;
        else {
          results[m.index] = m.results!;
          finished += m.results!.length;
          o.onProgress?.(finished, total);
        }
        feed();
      });
      w.on('error', rejectOne);
      feed();
    });
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, one));
  if (aborted?.aborted === true) throw new InterruptedError(INTERRUPTED);
  if (failure !== null) throw reviveError(failure);
  return results;
}

/**
 * --jobs 0: one combination after another in this thread, yielding to the event loop between
 * them, so that a signal handler can set the abort word (it acts from the next combination on).
 */
async function runInThisThread(groups: CombinationOptions[][], tmpRoot: string, o: PlanOptions): Promise<CombinationResult[][]> {
  const signal = sharedSignal(o.abort);
  const out: CombinationResult[][] = [];
  const total = groups.reduce((n, g) => n + g.length, 0);
  let done = 0;
  for (const g of groups) {
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted === true) throw new InterruptedError(INTERRUPTED);
    out.push(runGroup(g, tmpRoot, o.heatmaps === true, signal, o.onIteration === undefined ? undefined : (it) => o.onIteration!(g[0], it)));
    done += g.length;
    o.onProgress?.(done, total);
  }
  return out;
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

export interface PlanOutcome {
  plan: PlanReport;
  results: CombinationResult[];
}

export async function runPlan(o: PlanOptions): Promise<PlanOutcome> {
  return planOutcome(o, await runCombinations(o));
}

/**
 * Run the combinations of `o` whose indexes `pick` keeps (all by default), in order. A combination
 * is a pure function of its options: which ones run together changes nothing (plan --shard).
 */
export async function runCombinations(o: PlanOptions, pick: (index: number) => boolean = () => true): Promise<CombinationResult[]> {
  if (o.bandwidths.length === 0 || o.policies.length === 0) throw new UsageError('tracker plan needs at least one --bandwidth and one --policy');
  const tasks = combinations(o).filter((_, i) => pick(i));
  if (tasks.length === 0) return [];
  const groups = groupCombinations(tasks);
  checkFits(o.workload, { ...o.params, ...(o.rate === undefined ? {} : { rate: o.rate }) }, planMemoryModel(o), o.jobs <= 0 ? 1 : Math.min(o.jobs, tasks.length));
  const tmpRoot = mkdtempSync(join(o.tmpRoot ?? tmpdir(), 'tracker-plan-'));
  let done: CombinationResult[][];
  try {
    const runs = groups.map((g) => g.map((i) => tasks[i]));
    done = o.jobs <= 0 ? await runInThisThread(runs, tmpRoot, o) : await runInWorkers(runs, tmpRoot, o.heatmaps === true, o.jobs, o);
  } finally {
    rmSync(tmpRoot, { recursive: true, force: true });
  }
  const results: CombinationResult[] = new Array(tasks.length);
  groups.forEach((g, k) => g.forEach((i, j) => (results[i] = done[k][j])));
  return results;
}

/** The table, the best row and the recommendation of a plan, from every combination's result in order. */
export function planOutcome(o: Pick<PlanOptions, 'downtimeLimit' | 'seeds'>, results: CombinationResult[]): PlanOutcome {
  // Results come seed by seed (combinations()); a row gathers one combination over the seeds.
  const seeds = Math.max(1, o.seeds ?? 1);
  const per = results.length / seeds;
  const rows: PlanRow[] = [];
  const finals: number[] = [];
  for (let i = 0; i < per; i++) {
    const group = Array.from({ length: seeds }, (_, k) => results[k * per + i]);
    rows.push(seedRow(group.map((g) => planRow(g.report))));
    finals.push(Math.max(...group.map((g) => finalBytes(g.report))));
  }
  const first = results[0].report;
  const finalOf = (r: PlanRow) => finals[rows.indexOf(r)];
  return {
    plan: {
      workload: first.workload,
      downtime_limit_s: o.downtimeLimit,
      interval_s: first.interval_s,
      rows,
      best: bestRow(rows),
      recommendation: recommend(rows, o.downtimeLimit, finals),
      answers: bandwidthAnswers(rows, o.downtimeLimit, finalOf),
      seeds,
    },
    // The report draws the first seed's runs.
    results: results.slice(0, per),
  };
}

/** What the final dump sent: its pages (and shared pages), or the pages QEMU sent while stopped. */
function finalBytes(r: DumpReport): number {
  const last = r.iterations[r.iterations.length - 1];
  if (last.pages_sent !== undefined) return last.pages_sent * 4096;
  return last.bytes_written + (last.shpages_written ?? 0) * 4096;
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
    answers: p.answers.map((a) => ({
      bandwidth: a.bandwidth,
      converges: a.converges,
      policy: a.policy ?? a.closest?.policy ?? '',
      downtime_s: a.downtime_s ?? a.closest?.downtime_s ?? 0,
      margin_s: a.margin_s,
      spread: a.downtime_spread,
      break_even: a.converges ? '' : `limit ${formatSeconds(a.break_even_downtime_limit_s!)} or ${a.break_even_bandwidth_estimated ? '~' : ''}${formatBandwidth(a.break_even_bandwidth!)}`,
    })),
  };
}
