/**
 * `tracker run`: drive a workload and sample its memory behaviour every interval, the way a user
 * of a real kernel would: write 4 to clear_refs, let the process run, then read bit 55 of every
 * pagemap entry of its mappings. RSS is what /proc/PID/statm reports; the working set is what
 * smaps' "Referenced:" counts after `clear_refs 1` (ptes whose accessed bit the MMU set again).
 *
 * Virtual time: a step lasts 1 / rate of the workload (see clock.ts), so dirty rates are per
 * virtual second and comparable with a real service's. The measurement is of the steady state:
 * the setup system calls and the populate writes run first, unmeasured, and sampling starts with
 * a clear_refs 4 after them (as QEMU's calc-dirty-rate measures a running guest).
 */
import type { Mm } from '../mm/mm.js';
import { walkPageRange } from '../mm/pagewalk.js';
import { _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_SPECIAL, PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { PM_SOFT_DIRTY_HI, readPagemap, type PagemapFormat } from '../proc/pagemap.js';
import { pagemapScanNext } from '../proc/pagemap-scan.js';
import { kerndat } from '../proc/kerndat.js';
import { type Duration, WorkloadClock } from '../workload/clock.js';
import { shouldDumpPage } from '../criu/should-dump-page.js';
import { collectTracked, trackIncremental, trackUnsupported, type TrackBackend } from '../criu/track.js';
import { readMaps } from '../proc/vma-list.js';
import { UsageError } from '../errors.js';
import type { WorkloadIdentity, WorkloadProcess } from '../workload/process.js';

const MIB = 1024 * 1024;
const PAGEMAP_BATCH = 4096;

export interface RunOptions {
  /** How long to measure, after the warm-up; a number is steps. */
  duration: Duration | number;
  /** Time between samples; a number is steps. */
  sampleInterval: Duration | number;
  /** Run setup and populate first, unmeasured (default true). */
  warmUp?: boolean;
  /**
   * How dirty pages are found (src/criu/track.ts); default: soft-dirty where the kernel has it. A
   * sample is then what that backend's next iteration would copy, and the backend is reset after.
   */
  track?: TrackBackend;
}

export interface RunSample {
  index: number;
  /** Steps the process ran in this interval (more than asked only for a fork child's lifetime). */
  steps: number;
  /** Virtual seconds of the interval. */
  seconds: number;
  /**
   * Pages a pre-dump would copy: soft-dirty and present (not the zero page) or swapped.
   * null without soft-dirty.
   */
  dirty_pages: number | null;
  /** dirty_pages as MiB per virtual second. */
  dirty_rate_mib_per_s: number | null;
  rss_pages: number;
  working_set_pages: number;
}

export interface RunReport {
  workload: WorkloadIdentity;
  kernel: string;
  /** The tracking backend the dirty figures come from (--track). */
  track: TrackBackend;
  /** False when the kernel cannot track soft-dirty (see kerndat.ts); dirty figures are then null. */
  dirty_tracking: boolean;
  /** Why dirty figures are missing, when they are. */
  note?: string;
  /** Steps per virtual second. */
  rate: number;
  /** Setup and populate steps run before measuring. */
  warm_up_steps: number;
  /** Mean dirty rate over the measurement, MiB per virtual second (null without soft-dirty). */
  dirty_rate_mib_per_s: number | null;
  samples: RunSample[];
  totals: {
    steps: number;
    virtual_seconds: number;
    dirty_pages: number | null;
    final_rss_pages: number;
    max_working_set_pages: number;
  };
}

function dirtyRate(pages: number, seconds: number): number {
  return seconds === 0 ? 0 : (pages * PAGE_SIZE) / MIB / seconds;
}

function asDuration(d: Duration | number): Duration {
  return typeof d === 'number' ? { steps: d } : d;
}

/**
 * Count pagemap entries with soft-dirty set on a page that has contents: present and not the
 * zero page, or swapped. A range only flagged VM_SOFTDIRTY holds nothing to copy.
 */
export function countSoftDirty(mm: Mm, words: Uint32Array, format: PagemapFormat, zeroPagePfn: number): number {
  let n = 0;
  for (const v of [...mm.vmas]) {
    // Stretches without page tables hold nothing: skipped as PAGEMAP_SCAN skips them.
    for (let at = pagemapScanNext({ mm }, v.start, v.end); at < v.end; at = pagemapScanNext({ mm }, at, v.end)) {
      const count = Math.min(PAGEMAP_BATCH, v.end - at);
      readPagemap(mm, at, count, words, format);
      const privateFile = v.kind === 'file';
      for (let i = 0; i < count * 2; i += 2) {
        const hi = words[i + 1];
        if ((hi & PM_SOFT_DIRTY_HI) !== 0 && shouldDumpPage(words[i], hi, privateFile, zeroPagePfn)) n++;
      }
      at += count;
    }
  }
  return n;
}

/** smaps "Referenced:" summed over all VMAs: normal pages whose pte (or huge pmd) is young. */
export function referencedPages(mm: Mm): number {
  let n = 0;
  const lo = mm.pt.lo;
  const mem = mm.mem;
  for (const v of mm.vmas) {
    walkPageRange(mm, v.start, v.end, {
      pmdEntry(pmd, from, to) {
        const e = lo[pmd];
        if ((e & _PAGE_ACCESSED) !== 0 && !mem.isZero((e >>> 12) | (mm.pt.hi[pmd] << 20))) n += to - from;
        return true;
      },
      pteRange(slot, from, to) {
        for (let i = 0; i < to - from; i++) {
          const e = lo[slot + i];
          if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0 && (e & _PAGE_SPECIAL) === 0 && (e & _PAGE_ACCESSED) !== 0) n++;
        }
      },
    });
  }
  return n;
}

export function runMeasured(proc: WorkloadProcess, opts: RunOptions): RunReport {
  const duration = asDuration(opts.duration);
  const interval = asDuration(opts.sampleInterval);
  for (const [what, d] of [['duration', duration], ['sampleInterval', interval]] as const) {
    const v = 'steps' in d ? d.steps : d.seconds;
    if ('steps' in d ? !Number.isSafeInteger(v) || v < 0 : !(v >= 0 && Number.isFinite(v))) throw new RangeError(`${what} must be a whole number of steps or seconds >= 0, got ${v}`);
  }
  if (('steps' in interval ? interval.steps : interval.seconds) <= 0) throw new RangeError('sampleInterval must be positive');
  const kernel = proc.kernel;
  const mm = proc.task.mm;
  const kd = kerndat(kernel);
  const track = opts.track;
  if (track !== undefined) {
    const why = trackUnsupported(kernel, track);
    if (why !== null) throw new UsageError(`--track ${track}: ${why}`);
  }
  // Whether dirty figures exist: soft-dirty's bit, or the backend asked for.
  const softDirty = track !== undefined || kd.softDirty;
  const sampleDirty = (): number | null => {
    if (track === undefined || track === 'soft-dirty') return kd.softDirty ? countSoftDirty(mm, words, kd.pagemapFormat, kd.zeroPagePfn) : null;
    return collectTracked(proc, readMaps(proc.task), track, trackIncremental(track), kd.pagemapFormat, kd.zeroPagePfn).pipe.nrPages;
  };
  const words = new Uint32Array(PAGEMAP_BATCH * 2);
  const samples: RunSample[] = [];
  const clock = new WorkloadClock(proc);
  const warmUp = opts.warmUp === false ? 0 : (proc.warmUpSteps ?? 0);
  if (warmUp > 0) proc.run(warmUp);
  // Both in steps: exact step counts as before; otherwise everything in virtual seconds.
  const inSteps = 'steps' in duration && 'steps' in interval;
  const total = inSteps ? duration.steps : 'steps' in duration ? duration.steps / clock.rate : duration.seconds;
  const each = 'steps' in interval ? (inSteps ? interval.steps : interval.steps / clock.rate) : interval.seconds;
  clearRefsWrite(mm, '4');
  clearRefsWrite(mm, '1');
  // uffd-wp starts protected: register and write-protect now, as a first iteration would.
  if (track === 'uffd-wp') sampleDirty();
  let done = 0;
  let steps = 0;
  let dirtyTotal = 0;
  let maxWs = 0;
  const t0 = clock.now;
  while (total - done > 1e-12) {
    const chunk = Math.min(each, total - done);
    const before = clock.now;
    const ran = inSteps ? (clock.runSteps(chunk), proc.steps - steps - warmUp) : clock.runFor(chunk);
    done += chunk;
    const seconds = clock.now - before;
    const dirty = sampleDirty();
    const ws = referencedPages(mm);
    maxWs = Math.max(maxWs, ws);
    if (dirty !== null) dirtyTotal += dirty;
    const stepsRan = ran;
    steps += stepsRan;
    samples.push({
      index: samples.length,
      steps: stepsRan,
      seconds,
      dirty_pages: dirty,
      dirty_rate_mib_per_s: dirty === null ? null : dirtyRate(dirty, seconds),
      rss_pages: mm.rssPages(),
      working_set_pages: ws,
    });
    clearRefsWrite(mm, '4');
    clearRefsWrite(mm, '1');
  }
  const virtualSeconds = clock.now - t0;
  return {
    workload: proc.identity,
    kernel: kernel.profile.name,
    track: track ?? (kd.softDirty ? 'soft-dirty' : 'none'),
    dirty_tracking: softDirty,
    ...(softDirty ? {} : { note: `kernel ${kernel.profile.name} does not track soft-dirty pages (pagemap bit 55 stays clear after a write): dirty figures unavailable` }),
    rate: clock.rate,
    warm_up_steps: warmUp,
    dirty_rate_mib_per_s: softDirty ? dirtyRate(dirtyTotal, virtualSeconds) : null,
    samples,
    totals: {
      steps,
      virtual_seconds: virtualSeconds,
      dirty_pages: softDirty ? dirtyTotal : null,
      final_rss_pages: mm.rssPages(),
      max_working_set_pages: maxWs,
    },
  };
}
