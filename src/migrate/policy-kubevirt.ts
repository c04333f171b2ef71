/**
 * KubeVirt's migration monitor above QEMU (pkg/virt-launcher/virtwrap/live-migration-source.go,
 * migrationMonitor), polled every 400 ms, with its two convergence proposals:
 *
 *   completionTimeoutPerGiB  elapsed > 150 s x GiB: post-copy (allowPostCopy), else pause the VM
 *                            (allowWorkloadDisruption), else abort
 *   progressTimeout          DataRemaining has not fallen below its lowest for 150 s: abort
 *                            (legacy path; off when VEP 248's stall detection runs)
 *   VEP 291 downtime tuning  set max_downtime to initialMs (150) at once; once MemIteration >=
 *                            startAfterIteration (3) start a cooldown, and every cooldownSeconds
 *                            (10) raise it by one step, (maxDowntimeMs - initialMs)/(steps - 1),
 *                            up to maxDowntimeMs (1050): 150, 300, ... 1050 ms
 *   VEP 248 stall detection  at each pass: stalled when remaining >= the lowest remaining of
 *                            passes at least stallProgressTimeout (40 s) old x (1 - stallMargin 4 %);
 *                            then switch at a local minimum (remaining <= best x 1.04), relaxing
 *                            best after stallProgressTimeout x 0.5^k; implied downtime = remaining /
 *                            EWMA bandwidth (alpha 0.4) <= maxDowntimeMs x 1.5: set max_downtime to
 *                            maxDowntimeMs (abort if no switchover within 60 s), else abort;
 *                            post-copy when allowed
 * Defaults from the VEPs and kubevirt's stall detector constants (/work/notes/engines-research.md).
 */
import type { MigrationController, MonitorAction, MonitorView } from './qemu.js';

export const KUBEVIRT_POLL_S = 0.4;
/** QEMU's hard limit on downtime-limit (2,000,000 ms), set for a disruption-allowed switchover. */
export const QEMU_MAX_DOWNTIME_S = 2000;

export interface DowntimeTuning {
  initialMs: number;
  steps: number;
  startAfterIteration: number;
  cooldownSeconds: number;
}

export interface StallDetection {
  /** Percent. */
  stallMargin: number;
  stallProgressTimeout: number;
  switchoverTimeout: number;
  precopyPossibleFactor: number;
  patienceWindowDecayFactor: number;
  ewmaAlpha: number;
  completionTimeoutFactor: number;
}

export interface KubevirtOptions {
  /** The VM's migration data size, bytes (memory): completionTimeoutPerGiB scales with it. */
  vmBytes: number;
  completionTimeoutPerGiB: number;
  progressTimeout: number;
  allowPostCopy: boolean;
  allowWorkloadDisruption: boolean;
  maxDowntimeMs: number;
  downtimeTuning: DowntimeTuning | null;
  stallDetection: StallDetection | null;
}

export const KUBEVIRT_DEFAULTS = {
  completionTimeoutPerGiB: 150,
  progressTimeout: 150,
  maxDowntimeMs: 1050,
  downtimeTuning: { initialMs: 150, steps: 7, startAfterIteration: 3, cooldownSeconds: 10 } satisfies DowntimeTuning,
  stallDetection: {
    stallMargin: 4,
    stallProgressTimeout: 40,
    switchoverTimeout: 60,
    precopyPossibleFactor: 1.5,
    patienceWindowDecayFactor: 0.5,
    ewmaAlpha: 0.4,
    completionTimeoutFactor: 2,
  } satisfies StallDetection,
} as const;

/** VEP 291's levels: initialMs, then equal steps up to maxDowntimeMs (the last level is the ceiling). */
export function tuningLevels(t: DowntimeTuning, maxDowntimeMs: number): number[] {
  if (t.steps <= 1 || maxDowntimeMs <= t.initialMs) return [Math.min(t.initialMs, maxDowntimeMs)];
  const step = (maxDowntimeMs - t.initialMs) / (t.steps - 1);
  return Array.from({ length: t.steps }, (_, i) => t.initialMs + i * step);
}

export class KubevirtMonitor implements MigrationController {
  readonly pollInterval = KUBEVIRT_POLL_S;
  private first = true;
  private lowestRemaining = Infinity;
  private lastProgress = 0;
  private level = 0;
  private levels: number[] = [];
  private cooldownFrom: number | null = null;
  private ewma: number | null = null;
  private done = false;
  // VEP 248
  private records: { elapsed: number; remaining: number }[] = [];
  private stalled = false;
  private best = Infinity;
  private history: number[] = [];
  private patience = 0;
  private deadline = 0;
  private switchoverDeadline: number | null = null;
  private triggered = false;

  constructor(readonly o: KubevirtOptions) {
    if (o.downtimeTuning !== null) this.levels = tuningLevels(o.downtimeTuning, o.maxDowntimeMs);
  }

  private get acceptableCompletionTime(): number {
    return this.o.completionTimeoutPerGiB * (this.o.vmBytes / 1024 ** 3);
  }

  poll(v: MonitorView): MonitorAction[] {
    if (this.done) return [];
    const out: MonitorAction[] = [];
    if (v.bandwidth > 0) this.ewma = this.ewma === null ? v.bandwidth : this.alpha * v.bandwidth + (1 - this.alpha) * this.ewma;
    if (this.first) {
      this.first = false;
      this.lastProgress = v.elapsed;
      if (this.o.downtimeTuning !== null) out.push({ kind: 'set-downtime', seconds: this.levels[0] / 1e3, why: `VEP 291: initial max_downtime ${this.levels[0]} ms` });
      else if (this.o.stallDetection !== null && this.o.maxDowntimeMs < 300) out.push({ kind: 'set-downtime', seconds: this.o.maxDowntimeMs / 1e3, why: `VEP 248: max_downtime min(maxDowntimeMs, 300 ms)` });
    }
    // The legacy progress check: the lowest DataRemaining seen, and when it last fell.
    if (v.remainingBytes < this.lowestRemaining) {
      this.lowestRemaining = v.remainingBytes;
      this.lastProgress = v.elapsed;
    }
    if (this.o.downtimeTuning !== null && v.iteration >= this.o.downtimeTuning.startAfterIteration && this.level < this.levels.length - 1) {
      if (this.cooldownFrom === null) this.cooldownFrom = v.elapsed;
      else if (v.elapsed - this.cooldownFrom >= this.o.downtimeTuning.cooldownSeconds - 1e-9) {
        this.level++;
        this.cooldownFrom = v.elapsed;
        const msNow = this.levels[this.level];
        out.push({ kind: 'set-downtime', seconds: msNow / 1e3, why: `VEP 291: step ${this.level} of ${this.levels.length - 1}, max_downtime ${+msNow.toFixed(1)} ms at iteration ${v.iteration}` });
      }
    }
    if (this.switchoverDeadline !== null && v.elapsed > this.switchoverDeadline) {
      this.done = true;
      return [...out, { kind: 'abort', why: `VEP 248: no switchover within switchoverTimeout ${this.o.stallDetection!.switchoverTimeout} s` }];
    }
    if (!this.triggered && v.elapsed > this.acceptableCompletionTime) {
      this.triggered = true;
      const limit = `completionTimeoutPerGiB ${this.o.completionTimeoutPerGiB} s x ${+(this.o.vmBytes / 1024 ** 3).toFixed(2)} GiB = ${Math.round(this.acceptableCompletionTime)} s`;
      if (this.o.allowPostCopy) out.push({ kind: 'post-copy', why: `${limit} passed: post-copy` });
      else if (this.o.allowWorkloadDisruption) out.push({ kind: 'pause', why: `${limit} passed: the VM is paused to complete` });
      else {
        this.done = true;
        out.push({ kind: 'abort', why: `${limit} passed: aborted` });
      }
      return out;
    }
    if (this.o.stallDetection === null && !this.triggered && v.elapsed - this.lastProgress > this.o.progressTimeout) {
      this.done = true;
      out.push({ kind: 'abort', why: `progressTimeout: DataRemaining did not fall below ${Math.round(this.lowestRemaining / 1024 ** 2)} MiB for ${this.o.progressTimeout} s` });
    }
    return out;
  }

  private get alpha(): number {
    return this.o.stallDetection?.ewmaAlpha ?? 0.4;
  }

  onPass(v: MonitorView): MonitorAction[] {
    const s = this.o.stallDetection;
    if (s === null || this.done || this.switchoverDeadline !== null || this.triggered) return [];
    const margin = s.stallMargin / 100;
    let outside = Infinity;
    for (const r of this.records) if (r.elapsed <= v.elapsed - s.stallProgressTimeout) outside = Math.min(outside, r.remaining);
    this.records.push({ elapsed: v.elapsed, remaining: v.remainingBytes });
    const near = () => v.remainingBytes <= this.best * (1 + margin);
    if (!this.stalled) {
      if (outside === Infinity || v.remainingBytes < outside * (1 - margin)) return [];
      this.stalled = true;
      let recent = Infinity;
      for (const r of this.records) if (r.elapsed > v.elapsed - s.stallProgressTimeout) recent = Math.min(recent, r.remaining);
      this.best = Math.min(outside, recent);
      this.patience = s.stallProgressTimeout;
      this.deadline = v.elapsed + this.patience;
      return near() ? this.trySwitchover(v, s) : [];
    }
    this.history.push(v.remainingBytes);
    if (near()) return this.trySwitchover(v, s);
    if (v.elapsed >= this.deadline && this.history.length > 0) {
      let k = 0;
      this.history.forEach((h, i) => {
        if (h < this.history[k]) k = i;
      });
      this.best = this.history[k];
      this.history.splice(k, 1);
      this.patience *= s.patienceWindowDecayFactor;
      this.deadline = v.elapsed + this.patience;
    }
    return near() ? this.trySwitchover(v, s) : [];
  }

  private trySwitchover(v: MonitorView, s: StallDetection): MonitorAction[] {
    const bw = this.ewma ?? v.bandwidth;
    if (!(bw > 0)) return [];
    const implied = v.remainingBytes / bw;
    const budget = this.acceptableCompletionTime * s.completionTimeoutFactor - v.elapsed;
    if (implied > budget) return [];
    const at = `stalled at ${Math.round(v.remainingBytes / 1024 ** 2)} MiB remaining, implied downtime ${Math.round(implied * 1e3)} ms`;
    if (this.o.allowPostCopy && this.o.allowWorkloadDisruption) {
      this.done = true;
      return [{ kind: 'post-copy', why: `VEP 248: ${at}: post-copy` }];
    }
    if (this.o.allowWorkloadDisruption) {
      this.switchoverDeadline = v.elapsed + s.switchoverTimeout;
      return [{ kind: 'set-downtime', seconds: QEMU_MAX_DOWNTIME_S, why: `VEP 248: ${at}: stop-and-copy (workload disruption allowed)` }];
    }
    const max = this.o.maxDowntimeMs / 1e3;
    if (implied <= max * s.precopyPossibleFactor) {
      this.switchoverDeadline = v.elapsed + s.switchoverTimeout;
      return [{ kind: 'set-downtime', seconds: max, why: `VEP 248: ${at} <= ${this.o.maxDowntimeMs} ms x ${s.precopyPossibleFactor}: max_downtime ${this.o.maxDowntimeMs} ms` }];
    }
    this.done = true;
    return [{ kind: 'abort', why: `VEP 248: ${at} > ${this.o.maxDowntimeMs} ms x ${s.precopyPossibleFactor}: aborted` }];
  }
}
