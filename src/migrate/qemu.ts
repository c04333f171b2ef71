/**
 * QEMU's pre-copy loop as migration/migration.c and migration/ram.c run it, on virtual time
 * (sources and line-level notes: README "Engines", /work/notes/engines-research.md):
 *
 *   migration_thread          per chunk: migration_iteration_run(), then migration_rate_limit()
 *   migration_iteration_run   estimate = pages still set in the bitmap (dirty at the last sync and
 *                             not yet sent); if estimate < threshold_size: bitmap sync (exact);
 *                             if pending == 0 or pending < threshold_size: switchover
 *   ram_save_iterate          a chunk: pages until the window's rate budget (max-bandwidth / 10
 *                             per 100 ms) is spent or 50 ms (MAX_WAIT) passed, in address order from
 *                             where the last chunk stopped, wrapping at the end (last_seen_block,
 *                             last_page; find_dirty_block's complete_round), also across syncs
 *   migration_update_counters every BUFFER_DELAY (100 ms): bandwidth = bytes / time of the window;
 *                             threshold_size = (avail-switchover-bandwidth or bandwidth) x limit;
 *                             0 until the first window has ended
 *   migration_bitmap_sync     a pass boundary (an iteration of the image chain); when more than
 *                             1 s passed since the period began: migration_trigger_throttle()
 *   auto-converge             dirtied > 50 % of sent in the period, twice (not necessarily in a
 *                             row): throttle 20 %, then +10 %, at most 99 %; QEMU 9.2 forces a
 *                             sync every 5 s when none happened (cpu_throttle_dirty_sync_timer)
 *   dirty-limit               same trigger; then every vCPU is held to vcpu-dirty-limit
 *   ram_save_complete         the VM stopped: the pending pages and what was dirtied since the
 *                             last sync leave at the link's speed, regardless of max-bandwidth
 *
 * The engine sees the guest only through GuestRam (run, peek at the dirty log, sync), so the
 * same loop drives the emulated process and the synthetic guests of the tests.
 */
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { PageRuns } from './page-runs.js';

/** BUFFER_DELAY (migration/migration.h): the bandwidth window, seconds. */
export const BUFFER_DELAY_S = 0.1;
/** MAX_WAIT (migration/ram.c): ram_save_iterate returns after this long, seconds. */
export const MAX_WAIT_S = 0.05;
/** QEMU's MAX_THROTTLE: the max-bandwidth default, bytes/s (libvirt sets its own, unlimited by default). */
export const QEMU_MAX_BANDWIDTH = 128 * 1024 * 1024;
/** CPU_THROTTLE_DIRTY_SYNC_TIMESLICE_MS (QEMU 9.2 cpu-throttle.c). */
export const PERIODIC_SYNC_S = 5;
/** The period migration_bitmap_sync waits before it evaluates the throttle, seconds. */
export const THROTTLE_PERIOD_S = 1;

export const QEMU_DEFAULTS = {
  downtimeLimitS: 0.3,
  maxBandwidth: QEMU_MAX_BANDWIDTH,
  throttleTriggerPercent: 50,
  throttleInitial: 20,
  throttleIncrement: 10,
  throttleMax: 99,
  /** vcpu-dirty-limit default (migration/options.c DEFAULT_MIGRATE_VCPU_DIRTY_LIMIT): 1 MB/s. */
  vcpuDirtyLimit: 1e6,
} as const;

/** The guest as QEMU's RAM saver sees it. */
export interface GuestRam {
  /** Let the guest run `seconds` of virtual time, slowed by `throttlePct` (0: full speed, or paused when `paused`). */
  run(seconds: number, throttlePct: number): void;
  /** The dirty log now, not cleared: pages in it, and how many of those are unsent pages of `pending`. */
  peek(pending: PageRuns): { dirty: number; overlap: number };
  /**
   * migration_bitmap_sync: take and clear the dirty log. 'setup' is the bulk stage's all-ones
   * bitmap (every page with contents); 'final' runs with the VM stopped.
   */
  sync(kind: 'setup' | 'pass' | 'final'): PageRuns;
}

/** What a management layer (KubeVirt's migration monitor) sees when it looks. */
export interface MonitorView {
  /** Seconds since the migration started. */
  elapsed: number;
  /** QEMU's dirty-sync-count (libvirt's MemIteration). */
  iteration: number;
  /** Bytes still to send (libvirt's DataRemaining: the pages still set in the bitmap). */
  remainingBytes: number;
  /** The last window's bandwidth, bytes/s. */
  bandwidth: number;
  /** Bytes sent so far. */
  processedBytes: number;
  downtimeLimit: number;
}

export type MonitorAction =
  | { kind: 'set-downtime'; seconds: number; why: string }
  | { kind: 'post-copy'; why: string }
  | { kind: 'pause'; why: string }
  | { kind: 'abort'; why: string };

/** A controller above QEMU: polled every `pollInterval` seconds and told of each pass. */
export interface MigrationController {
  pollInterval: number;
  poll(v: MonitorView): MonitorAction[];
  onPass(v: MonitorView): MonitorAction[];
}

export interface QemuOptions {
  /** The link's speed, bytes/s. */
  bandwidth: number;
  /** max-bandwidth, bytes/s (Infinity: unlimited, as libvirt sets it). */
  maxBandwidth: number;
  /** avail-switchover-bandwidth, bytes/s; 0: use the measured bandwidth. */
  availSwitchoverBandwidth: number;
  /** downtime-limit, seconds. */
  downtimeLimit: number;
  autoConverge: boolean;
  /** QEMU 9.2's forced sync every 5 s while auto-converge runs. */
  periodicSync: boolean;
  /** vcpu-dirty-limit, bytes/s per vCPU; 0: no dirty-limit. */
  dirtyLimit: number;
  vcpus: number;
  throttleInitial: number;
  throttleIncrement: number;
  throttleMax: number;
  throttleTriggerPercent: number;
  /** Iterations of the chain at most, the final one included; then tracker switches over anyway and says so. */
  maxIters: number;
  /** Seconds added to the downtime at the switchover (device state, resume on the target). */
  switchoverCost: number;
  controller?: MigrationController;
  /** Called at each sync with the pass that began there. */
  onPass?: (p: QemuPass) => void;
}

export interface QemuPass {
  /** 1-based: the setup sync begins pass 1 (the bulk stage). */
  iteration: number;
  start_s: number;
  end_s: number;
  /** Pages the sync added to the bitmap (dirty since the last sync and not already pending). */
  pages_new: number;
  /** Pages pending when the pass began (unsent from before plus new). */
  pages_pending: number;
  /** Pages sent during the pass. */
  pages_sent: number;
  /** threshold_size when the pass began, bytes. */
  threshold_bytes: number;
  downtime_limit_s: number;
  throttle_pct: number;
  /** Why this sync happened. */
  cause: 'setup' | 'estimate under threshold' | 'periodic 5 s sync' | 'final';
}

export type QemuOutcome = 'converged' | 'post-copy' | 'paused' | 'aborted' | 'bound';

export interface QemuResult {
  outcome: QemuOutcome;
  converged: boolean;
  reason: string;
  passes: QemuPass[];
  /** Pages sent while the VM was stopped (0 for post-copy and abort). */
  final_pages: number;
  downtime_s: number;
  total_time_s: number;
  bytes_sent: number;
  /** Post-copy: seconds the destination ran while the rest was pulled. */
  postcopy_s: number;
  throttle_pct: number;
  /** Actions the controller took, with their times. */
  actions: { at_s: number; action: MonitorAction }[];
  /** The first time the throttle rose above 0 (null: never). */
  throttled_at_s: number | null;
}

/** Run QEMU's pre-copy migration of `ram` to completion (or to the controller's decision). */
export function runQemu(ram: GuestRam, o: QemuOptions): QemuResult {
  const link = o.bandwidth;
  const budget = Number.isFinite(o.maxBandwidth) ? o.maxBandwidth * BUFFER_DELAY_S : Infinity;
  let now = 0;
  let limit = o.downtimeLimit;
  let threshold = 0;
  let lastBandwidth = 0;
  let winStart = 0;
  let winBytes = 0;
  let bytes = 0;
  let syncs = 0;
  // migration_bitmap_sync's throttle period.
  let periodStart = 0;
  let periodDirty = 0;
  let periodDirtyAll = 0;
  let periodXferStart = 0;
  let highCount = 0;
  let throttle = 0;
  let throttledAt: number | null = null;
  let dirtyLimitOn = false;
  let paused = false;
  let pausedAt = 0;
  let postcopy = false;
  let tickDone = 0;
  let syncsAtTick = 0;
  let nextPoll = o.controller?.pollInterval ?? Infinity;
  const passes: QemuPass[] = [];
  const actions: QemuResult['actions'] = [];

  const run = (s: number) => {
    if (s <= 0) return;
    ram.run(s, paused ? 100 : throttle);
    now += s;
  };
  const view = (pending: PageRuns): MonitorView => ({ elapsed: now, iteration: syncs, remainingBytes: pending.unsent * PAGE_SIZE, bandwidth: lastBandwidth, processedBytes: bytes, downtimeLimit: limit });

  const raiseThrottle = (pct: number) => {
    throttle = Math.min(Math.max(pct, 0), o.throttleMax);
    if (throttle > 0 && throttledAt === null) throttledAt = now;
  };

  // migration_bitmap_sync()'s tail: the throttle is evaluated once more than 1 s has passed.
  const afterSync = (newPages: number, dirtyPages: number) => {
    periodDirty += newPages;
    periodDirtyAll += dirtyPages;
    if (now > periodStart + THROTTLE_PERIOD_S) {
      const xfer = bytes - periodXferStart;
      const dirtied = periodDirty * PAGE_SIZE;
      const seconds = now - periodStart;
      // dirty-limit measures the guest's own dirtying (the dirty ring), not the bitmap's growth.
      const rate = (periodDirtyAll * PAGE_SIZE) / seconds;
      if (dirtyLimitOn) raiseThrottle(dirtyLimitThrottle(rate, throttle, o));
      else if (dirtied > (xfer * o.throttleTriggerPercent) / 100 && ++highCount >= 2) {
        highCount = 0;
        if (o.autoConverge) raiseThrottle(throttle === 0 ? o.throttleInitial : throttle + o.throttleIncrement);
        else if (o.dirtyLimit > 0) {
          dirtyLimitOn = true;
          raiseThrottle(dirtyLimitThrottle(rate, throttle, o));
        }
      }
      periodStart = now;
      periodDirty = 0;
      periodDirtyAll = 0;
      periodXferStart = bytes;
    }
  };

  let pending = ram.sync('setup');
  syncs = 1;
  const begin = (cause: QemuPass['cause'], pagesNew: number) => {
    const prev = passes[passes.length - 1];
    if (prev !== undefined) prev.end_s = now;
    const p: QemuPass = { iteration: syncs, start_s: now, end_s: now, pages_new: pagesNew, pages_pending: pending.pages, pages_sent: 0, threshold_bytes: threshold, downtime_limit_s: limit, throttle_pct: throttle, cause };
    passes.push(p);
    o.onPass?.(p);
  };
  begin('setup', pending.pages);

  /** A sync that does not complete: the rest of the pass and the new dirty pages are the next one. */
  const passSync = (cause: QemuPass['cause']) => {
    const before = pending.unsent;
    const fresh = ram.sync('pass');
    pending = pending.unsentUnion(fresh);
    syncs++;
    const newPages = pending.pages - before;
    afterSync(newPages, fresh.pages);
    begin(cause, newPages);
    if (o.controller !== undefined) act(o.controller.onPass(view(pending)));
  };

  let outcome: QemuOutcome | null = null;
  let reason = '';
  const act = (list: MonitorAction[]) => {
    for (const a of list) {
      actions.push({ at_s: now, action: a });
      if (a.kind === 'set-downtime') limit = a.seconds;
      else if (a.kind === 'abort') {
        outcome = 'aborted';
        reason = a.why;
      } else if (a.kind === 'pause') {
        if (!paused) pausedAt = now;
        paused = true;
      } else if (a.kind === 'post-copy') postcopy = true;
    }
  };

  let finalPages = 0;
  let downtime = 0;
  let postcopyS = 0;
  for (;;) {
    if (outcome !== null) break;
    // migration_iteration_run()
    const estimate = pending.unsent * PAGE_SIZE;
    if (postcopy) {
      // postcopy_start(): the VM stops for the device state; the rest is pulled by the destination.
      const fresh = ram.sync('final');
      finalPages = pending.unsentUnion(fresh).pages;
      downtime = o.switchoverCost;
      postcopyS = (finalPages * PAGE_SIZE) / link;
      passes[passes.length - 1].end_s = now;
      outcome = 'post-copy';
      reason ||= `switched to post-copy with ${finalPages} pages left`;
      break;
    }
    let complete = false;
    if (estimate < threshold) {
      const { dirty, overlap } = ram.peek(pending);
      const exact = (pending.unsent + dirty - overlap) * PAGE_SIZE;
      if (exact === 0 || exact < threshold) complete = true;
      else if (syncs + 1 >= o.maxIters) {
        outcome = 'bound';
        complete = true;
      } else passSync('estimate under threshold');
    } else if (estimate === 0) complete = true;
    if (complete) {
      const fresh = ram.sync('final');
      const last = pending.unsentUnion(fresh);
      finalPages = last.pages;
      // A paused VM has been down since the pause.
      downtime = (finalPages * PAGE_SIZE) / link + o.switchoverCost + (paused ? now - pausedAt : 0);
      passes[passes.length - 1].end_s = now;
      if (outcome === 'bound') {
        reason = `reached --max-iters ${o.maxIters}: did not converge; switched over anyway with ${finalPages} pages (${ms(downtime)} > ${ms(limit)})`;
      } else {
        outcome = paused ? 'paused' : 'converged';
        reason =
          threshold === 0
            ? `the bitmap emptied before the first 100 ms window ended (threshold_size still 0): QEMU completes on nothing pending, then sends the ${finalPages} pages dirtied since`
            : `${finalPages} pages pending fit threshold_size ${fmtBytes(threshold)} (bandwidth ${fmtBytes(o.availSwitchoverBandwidth || lastBandwidth)}/s x ${ms(limit)})${paused ? ' after the VM was paused' : ''}`;
      }
      break;
    }
    // qemu_savevm_state_iterate() -> ram_save_iterate(): one chunk.
    if (winBytes < budget && pending.unsent > 0) {
      const byTime = Math.max(1, Math.floor((link * MAX_WAIT_S) / PAGE_SIZE));
      const byBudget = budget === Infinity ? Infinity : Math.ceil((budget - winBytes) / PAGE_SIZE);
      const n = Math.min(pending.unsent, byTime, byBudget);
      pending.send(n);
      const b = n * PAGE_SIZE;
      passes[passes.length - 1].pages_sent += n;
      run(b / link);
      winBytes += b;
      bytes += b;
    }
    // migration_rate_limit(): update the counters, or wait for the window's end.
    if (now < winStart + BUFFER_DELAY_S && winBytes >= budget) run(winStart + BUFFER_DELAY_S - now);
    if (now >= winStart + BUFFER_DELAY_S - 1e-12) {
      lastBandwidth = winBytes / (now - winStart);
      threshold = (o.availSwitchoverBandwidth > 0 ? o.availSwitchoverBandwidth : lastBandwidth) * limit;
      winStart = now;
      winBytes = 0;
    }
    // QEMU 9.2: the dirty-sync timer while auto-converge is on.
    if (o.autoConverge && o.periodicSync) {
      while (now >= (tickDone + 1) * PERIODIC_SYNC_S) {
        tickDone++;
        if (syncs > 1 && syncs === syncsAtTick && syncs + 1 < o.maxIters) passSync('periodic 5 s sync');
        syncsAtTick = syncs;
      }
    }
    while (o.controller !== undefined && now >= nextPoll && outcome === null) {
      act(o.controller.poll(view(pending)));
      nextPoll += o.controller.pollInterval;
    }
  }
  // `act` may have set it from a closure.
  if ((outcome as QemuOutcome | null) === 'aborted') {
    passes[passes.length - 1].end_s = now;
    return { outcome, converged: false, reason, passes, final_pages: 0, downtime_s: 0, total_time_s: now, bytes_sent: bytes, postcopy_s: 0, throttle_pct: throttle, actions, throttled_at_s: throttledAt };
  }
  const out = outcome as QemuOutcome;
  const tail = out === 'post-copy' ? o.switchoverCost + postcopyS : downtime - (paused ? now - pausedAt : 0);
  return {
    outcome: out,
    converged: out === 'converged',
    reason,
    passes,
    final_pages: out === 'post-copy' ? 0 : finalPages,
    downtime_s: downtime,
    total_time_s: now + tail,
    bytes_sent: bytes + finalPages * PAGE_SIZE,
    postcopy_s: postcopyS,
    throttle_pct: throttle,
    actions,
    throttled_at_s: throttledAt,
  };
}

/**
 * dirty-limit's hold on the guest as a throttle: the guest dirtied `rate` bytes/s at `current` %;
 * QEMU's dirtylimit.c sleeps each vCPU until it dirties at most vcpu-dirty-limit, so the guest as
 * a whole dirties at most vcpus x limit (an approximation of its per-vCPU controller).
 */
function dirtyLimitThrottle(rate: number, current: number, o: QemuOptions): number {
  const full = rate / Math.max(1e-9, 1 - current / 100);
  const cap = o.vcpus * o.dirtyLimit;
  if (full <= cap) return 0;
  return Math.min(o.throttleMax, Math.ceil((1 - cap / full) * 100));
}

function ms(s: number): string {
  return `${+(s * 1e3).toPrecision(4)} ms`;
}

function fmtBytes(b: number): string {
  return b >= 1024 * 1024 ? `${+(b / 1024 / 1024).toPrecision(4)} MiB` : `${+(b / 1024).toPrecision(4)} KiB`;
}
