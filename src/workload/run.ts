/**
 * `tracker run`: drive a workload and sample its memory behaviour every interval, the way a user
 * of a real kernel would: write 4 to clear_refs, let the process run, then read bit 55 of every
 * pagemap entry of its mappings. RSS is what /proc/PID/statm reports; the working set is what
 * smaps' "Referenced:" counts after `clear_refs 1` (ptes whose accessed bit the MMU set again).
 *
 * Virtual time: one step is VIRTUAL_NS_PER_STEP = 10 ns (about one memory access or one short
 * system call on a 2020s CPU), so 100 million steps are one virtual second and rates per virtual
 * second are comparable with a real workload's.
 */
import type { Mm } from '../mm/mm.js';
import { walkPageRange } from '../mm/pagewalk.js';
import { _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_SPECIAL, PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { PM_SOFT_DIRTY_HI, readPagemap, type PagemapFormat } from '../proc/pagemap.js';
import { kerndat } from '../proc/kerndat.js';
import { shouldDumpPage } from '../criu/should-dump-page.js';
import type { WorkloadIdentity, WorkloadProcess } from './process.js';

export const VIRTUAL_NS_PER_STEP = 10;
const MIB = 1024 * 1024;
const PAGEMAP_BATCH = 4096;

export interface RunOptions {
  steps: number;
  sampleInterval: number;
}

export interface RunSample {
  index: number;
  /** Steps the process ran in this interval (more than asked only for a fork child's lifetime). */
  steps: number;
  /**
   * Pages a pre-dump would copy: soft-dirty and present (not the zero page) or swapped.
   * null without soft-dirty.
   */
  dirtyPages: number | null;
  /** dirtyPages as MiB per virtual second. */
  dirtyMiBps: number | null;
  rssPages: number;
  workingSetPages: number;
}

export interface RunReport {
  workload: WorkloadIdentity;
  kernel: string;
  /** False when the kernel cannot track soft-dirty (see kerndat.ts); dirty figures are then null. */
  softDirty: boolean;
  /** Why dirty figures are missing, when they are. */
  note?: string;
  virtualNsPerStep: number;
  samples: RunSample[];
  totals: {
    steps: number;
    virtualSeconds: number;
    dirtyPages: number | null;
    meanDirtyMiBps: number | null;
    finalRssPages: number;
    maxWorkingSetPages: number;
  };
}

function dirtyRate(pages: number, steps: number): number {
  return steps === 0 ? 0 : (pages * PAGE_SIZE) / MIB / ((steps * VIRTUAL_NS_PER_STEP) / 1e9);
}

/**
 * Count pagemap entries with soft-dirty set on a page that has contents: present and not the
 * zero page, or swapped. A range only flagged VM_SOFTDIRTY holds nothing to copy.
 */
export function countSoftDirty(mm: Mm, words: Uint32Array, format: PagemapFormat, zeroPagePfn: number): number {
  let n = 0;
  for (const v of [...mm.vmas]) {
    for (let at = v.start; at < v.end; at += PAGEMAP_BATCH) {
      const count = Math.min(PAGEMAP_BATCH, v.end - at);
      readPagemap(mm, at, count, words, format);
      const privateFile = v.kind === 'file';
      for (let i = 0; i < count * 2; i += 2) {
        const hi = words[i + 1];
        if ((hi & PM_SOFT_DIRTY_HI) !== 0 && shouldDumpPage(words[i], hi, privateFile, zeroPagePfn)) n++;
      }
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
        if ((e & _PAGE_ACCESSED) !== 0 && !mem.isZero(e >>> 12)) n += to - from;
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
  if (!Number.isSafeInteger(opts.steps) || opts.steps < 0) throw new RangeError(`steps must be a whole number, got ${opts.steps}`);
  if (!Number.isSafeInteger(opts.sampleInterval) || opts.sampleInterval < 1) throw new RangeError(`sampleInterval must be at least 1, got ${opts.sampleInterval}`);
  const kernel = proc.kernel;
  const mm = proc.task.mm;
  const kd = kerndat(kernel);
  const softDirty = kd.softDirty;
  const words = new Uint32Array(PAGEMAP_BATCH * 2);
  const samples: RunSample[] = [];
  clearRefsWrite(mm, '4');
  clearRefsWrite(mm, '1');
  let done = 0;
  let dirtyTotal = 0;
  let maxWs = 0;
  while (done < opts.steps) {
    const before = proc.steps;
    proc.run(Math.min(opts.sampleInterval, opts.steps - done));
    const ran = proc.steps - before;
    done += ran;
    const dirty = softDirty ? countSoftDirty(mm, words, kd.pagemapFormat, kd.zeroPagePfn) : null;
    const ws = referencedPages(mm);
    maxWs = Math.max(maxWs, ws);
    if (dirty !== null) dirtyTotal += dirty;
    samples.push({
      index: samples.length,
      steps: ran,
      dirtyPages: dirty,
      dirtyMiBps: dirty === null ? null : dirtyRate(dirty, ran),
      rssPages: mm.rssPages(),
      workingSetPages: ws,
    });
    clearRefsWrite(mm, '4');
    clearRefsWrite(mm, '1');
  }
  const virtualSeconds = (done * VIRTUAL_NS_PER_STEP) / 1e9;
  return {
    workload: proc.identity,
    kernel: kernel.profile.name,
    softDirty,
    ...(softDirty ? {} : { note: `kernel ${kernel.profile.name} does not track soft-dirty pages (pagemap bit 55 stays clear after a write): dirty figures unavailable` }),
    virtualNsPerStep: VIRTUAL_NS_PER_STEP,
    samples,
    totals: {
      steps: done,
      virtualSeconds,
      dirtyPages: softDirty ? dirtyTotal : null,
      meanDirtyMiBps: softDirty ? dirtyRate(dirtyTotal, done) : null,
      finalRssPages: mm.rssPages(),
      maxWorkingSetPages: maxWs,
    },
  };
}
