/**
 * When to stop pre-dumping (--policy): the convergence rules of the tools that drive CRIU and of
 * QEMU, decided before each iteration from what the earlier ones wrote.
 *
 * phaul     P.Haul, phaul/iters.py (__check_live_iter_progress, iter_consts): after pre-dump
 *           number i (counted from 0) stop when it wrote <= 64 pages, when it grew more than 10 %
 *           over the one before (Python 2 integer percentage: delta * 100 / prev > 10, so 10.9 %
 *           continues), or when i >= 8. At most 9 pre-dumps, then the dump: 10 iterations.
 * go-phaul  go-criu, phaul/client.go (isLastIter): after pre-dump number iter (counted from 1)
 *           stop when iter >= 8, when it wrote < 64 pages, or when it wrote >= 32 pages more than
 *           the one before. The one before the first is an empty DumpStatsEntry (0 pages), so the
 *           first comparison stops after the first pre-dump whenever it wrote 64 pages or more:
 *           go-phaul does one pre-dump and the dump. At most 8 pre-dumps: 9 iterations.
 * qemu      QEMU, migration/migration.c (migration_iteration_run, migration_update_counters):
 *           complete when the pending dirty bytes are below threshold_size = bandwidth x
 *           downtime-limit (default 300 ms). threshold_size is 0 until a first pass has measured
 *           the bandwidth, so the first pass (the bulk stage) always runs. tracker counts the dirty
 *           pages through pagemap without clearing them (QEMU's pending estimate) and adds the time
 *           the final dump's pagemap read takes, so the downtime it then gets stays within the
 *           limit. QEMU has no iteration limit; tracker's --max-iters (default 10) bounds it.
 * fixed     exactly --iterations iterations.
 *
 * --auto-converge (QEMU migration/ram.c, migration_trigger_throttle and mig_throttle_guest_down):
 * at each iteration boundary, when the bytes dirtied since the last one exceed 50 %
 * (throttle-trigger-threshold) of the bytes sent in that period, a counter goes up; when it
 * reaches 2 it is reset and the guest is throttled: 20 % (cpu-throttle-initial) the first time,
 * 10 % more (cpu-throttle-increment) each later time, at most 99 %. The counter is never reset
 * when the condition fails, so "twice" need not be in a row. QEMU checks at a dirty-bitmap sync
 * (at most once a second); tracker checks once per iteration.
 */
import { transferSeconds } from './timing.js';

export const POLICIES = ['phaul', 'go-phaul', 'qemu', 'fixed'] as const;
export type PolicyName = (typeof POLICIES)[number];

/** Iterations in all (pre-dumps and the final dump) each policy allows by default. */
export const DEFAULT_MAX_ITERS: Record<Exclude<PolicyName, 'fixed'>, number> = { phaul: 10, 'go-phaul': 9, qemu: 10 };

export const PHAUL = { minPages: 64, maxGrowthPercent: 10 } as const;
export const GO_PHAUL = { minPages: 64, maxGrowDelta: 32 } as const;
export const QEMU = { downtimeLimitS: 0.3, throttleTriggerPercent: 50, throttleInitial: 20, throttleIncrement: 10, throttleMax: 99 } as const;

export interface PolicyOptions {
  policy: PolicyName;
  /** fixed: iterations in all. */
  iterations: number;
  /** Iterations in all at most (pre-dumps and the dump). */
  maxIters: number;
  /** phaul: stop once a pre-dump writes at most this many pages. */
  minPages: number;
  /** phaul: stop once a pre-dump grows more than this percentage. */
  maxGrowthPercent: number;
  /** qemu: seconds. */
  downtimeLimit: number;
  /** Bytes per second. */
  bandwidth: number;
}

export interface Decision {
  final: boolean;
  /** Why the policy stopped (empty while it goes on). */
  reason: string;
  /** The policy stopped on its convergence rule (not on a bound or on growth). */
  converged: boolean;
}

/** What a policy sees before iteration `iteration` (1-based). */
export interface PolicyInput {
  iteration: number;
  /** pages_written of the pre-dumps so far, in order. */
  written: readonly number[];
  /** Dirty pages now (pagemap, not cleared); only qemu needs it. */
  dirtyPages: number;
  /** Virtual seconds the final dump's pagemap read would take now. */
  scanSeconds: number;
}

const GO_ON: Decision = { final: false, reason: '', converged: false };

export function needsDirtyCount(p: PolicyName): boolean {
  return p === 'qemu';
}

export function decide(o: PolicyOptions, s: PolicyInput): Decision {
  const it = s.iteration;
  const n = s.written.length;
  const last = s.written[n - 1];
  const bound = (): Decision => ({ final: true, reason: `reached --max-iters ${o.maxIters} (${o.maxIters - 1} pre-dumps and the dump)`, converged: false });
  switch (o.policy) {
    case 'fixed':
      return it >= o.iterations ? { final: true, reason: `fixed policy: ${o.iterations} iterations`, converged: false } : GO_ON;
    case 'phaul': {
      if (n === 0) return it >= o.maxIters ? bound() : GO_ON;
      if (last <= o.minPages) return { final: true, reason: `pre-dump ${n} wrote ${last} pages (<= ${o.minPages})`, converged: true };
      if (n >= 2) {
        const prev = s.written[n - 2];
        // P.Haul ran on Python 2: the percentage is an integer division, rounded down.
        const grow = Math.floor(((last - prev) * 100) / prev);
        if (grow > o.maxGrowthPercent) return { final: true, reason: `pre-dump ${n} grew ${grow}% over the one before (> ${o.maxGrowthPercent}%)`, converged: false };
      }
      return it >= o.maxIters ? bound() : GO_ON;
    }
    case 'go-phaul': {
      if (n === 0) return it >= o.maxIters ? bound() : GO_ON;
      if (it >= o.maxIters) return bound();
      if (last < GO_PHAUL.minPages) return { final: true, reason: `pre-dump ${n} wrote ${last} pages (< ${GO_PHAUL.minPages})`, converged: true };
      const prev = n >= 2 ? s.written[n - 2] : 0;
      const delta = last - prev;
      if (delta >= GO_PHAUL.maxGrowDelta) {
        const first = n === 1 ? ' (the first is compared with an empty one: go-phaul stops after one pre-dump)' : '';
        return { final: true, reason: `pre-dump ${n} wrote ${delta} pages more than the one before (>= ${GO_PHAUL.maxGrowDelta})${first}`, converged: false };
      }
      return GO_ON;
    }
    case 'qemu': {
      if (n === 0) return it >= o.maxIters ? bound() : GO_ON;
      const downtime = s.scanSeconds + transferSeconds(s.dirtyPages, o.bandwidth);
      if (s.dirtyPages === 0 || downtime < o.downtimeLimit) {
        return { final: true, reason: `${s.dirtyPages} dirty pages fit the downtime limit (${ms(downtime)} < ${ms(o.downtimeLimit)})`, converged: true };
      }
      if (it >= o.maxIters) return { ...bound(), reason: `${bound().reason}: did not converge, ${s.dirtyPages} dirty pages need ${ms(downtime)} > ${ms(o.downtimeLimit)}` };
      return GO_ON;
    }
  }
}

function ms(s: number): string {
  return `${+(s * 1e3).toPrecision(4)} ms`;
}

/** QEMU's auto-converge: state carried from one iteration boundary to the next. */
export class AutoConverge {
  throttlePct = 0;
  private highCount = 0;
  /** Times the throttle was raised. */
  triggers = 0;

  /**
   * At an iteration boundary: `dirtyBytes` written since the last one, `sentBytes` sent in that
   * period. Returns the throttle percentage now in force.
   */
  check(dirtyBytes: number, sentBytes: number): number {
    const threshold = (sentBytes * QEMU.throttleTriggerPercent) / 100;
    if (dirtyBytes > threshold && ++this.highCount >= 2) {
      this.highCount = 0;
      this.triggers++;
      this.throttlePct = this.throttlePct === 0 ? QEMU.throttleInitial : Math.min(this.throttlePct + QEMU.throttleIncrement, QEMU.throttleMax);
    }
    return this.throttlePct;
  }
}
