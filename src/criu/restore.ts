/**
 * `tracker restore`: read an image chain back to its first iteration, rebuild the VMAs and every
 * page (an in-parent page comes from the nearest parent that has it), restore the program state,
 * and check every checksum and the memory digest. A restore is either exactly right or refused.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ImageError, TrackerError, VerifyError } from '../errors.js';
import { DEFAULT_MEMORY_BYTES, Kernel, type Task } from '../mm/kernel.js';
import { isKernelProfileName } from '../mm/kernel-profile.js';
import { madvise } from '../mm/madvise.js';
import { mmap, PROT_EXEC, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { mprotect } from '../mm/mprotect.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { ShmemFile } from '../mm/shmem.js';
import { VM_EXEC, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_READ, VM_WRITE } from '../mm/vma.js';
import { memoryDigest } from '../proc/mem.js';
import { createWorkload, resumeWorkload } from '../workload/index.js';
import type { WorkloadProcess } from '../workload/process.js';
import { IMAGE_FILES, RawImage, readImage } from './image.js';
import { openPageData, readCompression, type PageData } from './page-compress.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type CoreImage, type InventoryEntry, type MmEntry, type PagemapImage, type ShmemImage } from './schema.js';

/** One iteration directory, loaded and checked. */
export interface ChainLink {
  dir: string;
  inventory: InventoryEntry;
  entries: PagemapImage['entries'];
  /** Offset in pages.img of each entry's first page (-1 for in-parent entries). */
  offsets: number[];
  /** pages.img, checked and open; read on demand (decompressed when compressed). */
  pages: PageData;
}

const MAX_CHAIN = 10_000;

function loadLink(dir: string): ChainLink {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImageError(`${dir}: no such image directory`);
  const inventory = readImage<InventoryEntry>(join(dir, IMAGE_FILES.inventory), 'inventory');
  if (inventory === null || typeof inventory !== 'object' || inventory.format !== 'tracker') throw new ImageError(`${dir}: inventory is not a tracker inventory`);
  if (!Number.isSafeInteger(inventory.iteration) || inventory.iteration < 1) throw new ImageError(`${dir}: inventory has a bad iteration number`);
  if (inventory.type !== 'dump' && inventory.type !== 'pre-dump') throw new ImageError(`${dir}: inventory has an unknown type`);
  if (inventory.parent !== null && typeof inventory.parent !== 'string') throw new ImageError(`${dir}: inventory parent must be a relative path or null`);
  const pm = readImage<PagemapImage>(join(dir, IMAGE_FILES.pagemap), 'pagemap');
  if (pm === null || !Array.isArray(pm.entries)) throw new ImageError(`${dir}: pagemap image has no entries list`);
  // Not needed to rebuild memory, but a restore checks every checksum of the chain.
  readImage(join(dir, IMAGE_FILES.stats), 'stats');
  const offsets: number[] = [];
  let off = 0;
  let prevEnd = -1;
  for (const e of pm.entries) {
    if (e === null || typeof e !== 'object' || !Number.isSafeInteger(e.vaddr) || !Number.isSafeInteger(e.nr_pages) || e.nr_pages < 1 || e.vaddr < prevEnd)
      throw new ImageError(`${dir}: pagemap entry out of order or malformed`);
    if (e.flags !== PE_PARENT && e.flags !== PE_PRESENT && e.flags !== (PE_PRESENT | PE_RELEASED)) throw new ImageError(`${dir}: pagemap entry with unknown flags ${e.flags}`);
    prevEnd = e.vaddr + e.nr_pages;
    // Released runs (dedup) keep their place in pages.img.
    if ((e.flags & PE_PRESENT) !== 0) {
      offsets.push(off);
      off += e.nr_pages * PAGE_SIZE;
    } else offsets.push(-1);
  }
  const compression = readCompression(dir, pm.compression);
  const pages = openPageData(dir, RawImage.open(join(dir, IMAGE_FILES.pages), 'pages'), compression, off);
  return { dir, inventory, entries: pm.entries, offsets, pages };
}

/**
 * Load DIR/N and its parents. Parent references are relative and must stay inside the images root
 * (the directory holding the iterations); cycles and gaps are refused.
 */
export function loadChain(finalDir: string): ChainLink[] {
  const start = resolve(finalDir);
  if (!existsSync(start)) {
    const tmp = join(dirname(start), `.${basename(start)}.tmp`);
    if (existsSync(tmp)) throw new ImageError(`${finalDir}: this iteration was interrupted while being written (${tmp} is left); dump again`);
    throw new ImageError(`${finalDir}: no such image directory`);
  }
  const root = realpathSync(dirname(start));
  const chain: ChainLink[] = [];
  try {
    const seen = new Set<string>();
    let dir: string | null = realpathSync(start);
    while (dir !== null) {
      if (seen.has(dir)) throw new ImageError(`${dir}: parent chain loops back to itself`);
      if (seen.size >= MAX_CHAIN) throw new ImageError(`${finalDir}: parent chain longer than ${MAX_CHAIN}`);
      seen.add(dir);
      const link = loadLink(dir);
      chain.unshift(link);
      const parent = link.inventory.parent;
      if (parent === null) break;
      if (typeof parent !== 'string' || parent.startsWith('/')) throw new ImageError(`${dir}: parent reference must be relative`);
      const p = resolve(dir, parent);
      if (!insideRoot(root, p)) throw new ImageError(`${dir}: parent ${parent} points outside the images directory ${root}`);
      if (!existsSync(p)) throw new ImageError(`${dir}: parent ${parent} is missing; the chain is broken`);
      dir = realpathSync(p);
      // Checked again after symlinks are resolved: a link must not lead out of the root either.
      if (!insideRoot(root, dir)) throw new ImageError(`${p}: resolves to ${dir}, outside the images directory ${root}`);
    }
    for (let i = 1; i < chain.length; i++) {
      if (chain[i].inventory.iteration !== chain[i - 1].inventory.iteration + 1) throw new ImageError(`${chain[i].dir}: parent is iteration ${chain[i - 1].inventory.iteration}, expected ${chain[i].inventory.iteration - 1}`);
    }

  } catch (e) {
    closeChain(chain);
    throw e;
  }
  return chain;
}

/** Close the page images a chain holds open. */
export function closeChain(chain: ChainLink[]): void {
  for (const l of chain) l.pages.close();
}

/** A direct child of the images root (an iteration directory), nothing above or beside it. */
function insideRoot(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !rel.includes(sep);
}

/** Find page vpn in link i or, through in-parent entries, its parents. */
function findPage(chain: ChainLink[], i: number, vpn: number): { data: Buffer; link: number } {
  for (let k = i; k >= 0; k--) {
    const l = chain[k];
    let lo = 0;
    let hi = l.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = l.entries[mid];
      if (vpn < e.vaddr) hi = mid - 1;
      else if (vpn >= e.vaddr + e.nr_pages) lo = mid + 1;
      else {
        found = mid;
        break;
      }
    }
    if (found < 0) break;
    const e = l.entries[found];
    if (e.flags === (PE_PRESENT | PE_RELEASED))
      throw new ImageError(`${l.dir}: page 0x${(vpn * PAGE_SIZE).toString(16)} was released by dedup, but ${chain[i].dir} still needs it; the chain was deduplicated wrongly`);
    if (e.flags === PE_PRESENT) {
      const off = l.offsets[found] + (vpn - e.vaddr) * PAGE_SIZE;
      return { data: l.pages.read(off, PAGE_SIZE), link: k };
    }
  }
  throw new ImageError(`${chain[i].dir}: page 0x${(vpn * PAGE_SIZE).toString(16)} is marked in-parent but no parent image holds it`);
}

export interface RestoreReport {
  images_dir: string;
  iterations: { iteration: number; dir: string; pages_restored: number }[];
  pages_restored: number;
  memory_digest: string;
  digest_ok: boolean;
  steps: number;
  resumed_steps: number;
  verify: { ran: boolean; uninterrupted_digest: string | null; restored_digest: string | null; identical: boolean | null };
}

export interface RestoreOptions {
  dir: string;
  resumeSteps: number;
  verify: boolean;
}

const MAX_USER_VPN = 2 ** 35;
/** Shmem files keep per-page arrays: bound them so a corrupt image cannot ask for gigabytes. */
const MAX_FILE_PAGES = 1 << 22;

function validateMm(dir: string, m: MmEntry): void {
  if (m === null || typeof m !== 'object' || !Array.isArray(m.vmas)) throw new ImageError(`${dir}: mm image has no VMA list`);
  let prevEnd = 0;
  for (const v of m.vmas) {
    const ok =
      v !== null &&
      typeof v === 'object' &&
      Number.isSafeInteger(v.start) &&
      Number.isSafeInteger(v.end) &&
      v.start >= prevEnd &&
      v.end > v.start &&
      v.end <= MAX_USER_VPN &&
      Number.isSafeInteger(v.flags) &&
      Number.isSafeInteger(v.pgoff) &&
      v.pgoff >= 0 &&
      (v.kind === 'anon' || v.kind === 'shared' || v.kind === 'file');
    if (!ok) throw new ImageError(`${dir}: mm image has a malformed or overlapping VMA`);
    if (v.kind === 'shared' && v.end - v.start > MAX_FILE_PAGES) throw new ImageError(`${dir}: shared VMA larger than ${MAX_FILE_PAGES} pages`);
    if (v.kind === 'file' && (v.file === null || typeof v.file !== 'object' || typeof v.file.name !== 'string' || !Number.isSafeInteger(v.file.pages) || v.file.pages < 0 || v.file.pages > MAX_FILE_PAGES))
      throw new ImageError(`${dir}: file VMA without a valid file`);
    prevEnd = v.end;
  }
}

function validateShmem(dir: string, sh: ShmemImage, m: MmEntry): void {
  if (sh === null || typeof sh !== 'object' || !Array.isArray(sh.objects) || !(sh.data instanceof Uint8Array)) throw new ImageError(`${dir}: shmem image is malformed`);
  let pages = 0;
  for (const o of sh.objects) {
    if (o === null || typeof o !== 'object' || !Array.isArray(o.runs)) throw new ImageError(`${dir}: shmem object is malformed`);
    for (const r of o.runs) {
      if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < 0 || r[1] < 1) throw new ImageError(`${dir}: shmem run is malformed`);
      pages += r[1];
    }
  }
  if (pages * PAGE_SIZE !== sh.data.length) throw new ImageError(`${dir}: shmem image names ${pages} pages but holds ${sh.data.length / PAGE_SIZE}`);
  for (const v of m.vmas) if (v.kind === 'shared' && (!Number.isSafeInteger(v.shmem) || v.shmem < 0 || v.shmem >= sh.objects.length)) throw new ImageError(`${dir}: shared VMA names a missing shmem object`);
}

function vmProt(flags: number): number {
  return (flags & VM_READ ? PROT_READ : 0) | (flags & VM_WRITE ? PROT_WRITE : 0) | (flags & VM_EXEC ? PROT_EXEC : 0);
}

/** Rebuild the process of an image chain in a fresh kernel. */
export function restoreProcess(chain: ChainLink[]): { kernel: Kernel; task: Task; perIteration: number[]; core: CoreImage } {
  const last = chain[chain.length - 1];
  if (last.inventory.type !== 'dump') throw new ImageError(`${last.dir}: is a pre-dump; restore from the final dump (the largest iteration)`);
  if (!isKernelProfileName(last.inventory.kernel)) throw new ImageError(`${last.dir}: unknown kernel profile '${last.inventory.kernel}'`);
  const mmImg = readImage<MmEntry>(join(last.dir, IMAGE_FILES.mm), 'mm');
  const shmem = readImage<ShmemImage>(join(last.dir, IMAGE_FILES.shmem), 'shmem');
  const core = readImage<CoreImage>(join(last.dir, IMAGE_FILES.core), 'core');
  validateMm(last.dir, mmImg);
  validateShmem(last.dir, shmem, mmImg);
  if (core === null || typeof core !== 'object' || core.state === null || typeof core.state !== 'object') throw new ImageError(`${last.dir}: core image holds no program state`);
  // Every page the images name must fit in the emulated machine: refuse absurd counts up front.
  let needed = shmem.data.length / PAGE_SIZE;
  for (const e of last.entries) needed += e.nr_pages;
  const memoryBytes = Math.min(DEFAULT_MEMORY_BYTES, Math.max(64 << 20, Math.ceil((needed * 1.25) / 512) * 512 * PAGE_SIZE + (16 << 20)));
  if (needed * PAGE_SIZE > DEFAULT_MEMORY_BYTES) throw new ImageError(`${last.dir}: the images name ${needed} pages, more than an emulated machine holds`);
  const kernel = new Kernel({ profile: last.inventory.kernel, memoryBytes });
  const task = kernel.spawn('restore');
  const mm = task.mm;
  const shmemFiles = new Map<number, ShmemFile>();
  for (const v of mmImg.vmas) {
    const pages = v.end - v.start;
    let file: ShmemFile | undefined;
    if (v.kind === 'file') {
      if (v.file === null) throw new ImageError(`${last.dir}: file VMA without a file`);
      file = ShmemFile.withPattern(v.file.name, v.file.pages);
    }
    const r = mmap(mm, { start: v.start, pages, prot: PROT_READ | PROT_WRITE, kind: v.kind, fixed: true, file, pgoff: v.pgoff });
    if (r < 0) throw new ImageError(`${last.dir}: cannot map VMA at 0x${(v.start * PAGE_SIZE).toString(16)} (errno ${-r})`);
    if (v.kind === 'shared') {
      const vma = mm.findVma(v.start)!;
      const existing = shmemFiles.get(v.shmem);
      if (existing === undefined) shmemFiles.set(v.shmem, vma.file!);
    }
    if ((v.flags & VM_HUGEPAGE) !== 0) madvise(mm, v.start, pages, 'hugepage');
    if ((v.flags & VM_NOHUGEPAGE) !== 0) madvise(mm, v.start, pages, 'nohugepage');
  }
  // Shared memory by contents.
  let off = 0;
  for (const [index, obj] of shmem.objects.entries()) {
    const vmaEntry = mmImg.vmas.find((v) => v.shmem === index);
    if (vmaEntry === undefined) continue;
    for (const [first, n] of obj.runs) {
      for (let i = first; i < first + n; i++) {
        const data = Buffer.from(shmem.data.buffer, shmem.data.byteOffset + off, PAGE_SIZE);
        off += PAGE_SIZE;
        const vpn = vmaEntry.start + (i - vmaEntry.pgoff);
        if (vpn >= vmaEntry.start && vpn < vmaEntry.end) mm.populatePage(vpn, data);
      }
    }
  }
  // Private pages, from the final pagemap, following in-parent entries.
  const perIteration = new Array<number>(chain.length).fill(0);
  const li = chain.length - 1;
  for (const e of last.entries) {
    for (let p = 0; p < e.nr_pages; p++) {
      const vpn = e.vaddr + p;
      const { data, link } = findPage(chain, li, vpn);
      perIteration[link]++;
      const r = mm.populatePage(vpn, data);
      if (r < 0) throw new ImageError(`${last.dir}: page 0x${(vpn * PAGE_SIZE).toString(16)} lies outside every VMA`);
    }
  }
  for (const v of mmImg.vmas) {
    const prot = vmProt(v.flags);
    if (prot !== (PROT_READ | PROT_WRITE)) mprotect(mm, v.start, v.end - v.start, prot);
  }
  return { kernel, task, perIteration, core };
}

export function restore(o: RestoreOptions): RestoreReport {
  const chain = loadChain(o.dir);
  const last = chain[chain.length - 1];
  let rebuilt: ReturnType<typeof restoreProcess>;
  try {
    rebuilt = restoreProcess(chain);
  } finally {
    closeChain(chain);
  }
  const { kernel, task, perIteration, core } = rebuilt;
  const digest = memoryDigest(task.mm);
  const digestOk = digest === last.inventory.memoryDigest;
  const report: RestoreReport = {
    images_dir: o.dir,
    iterations: chain.map((l, i) => ({ iteration: l.inventory.iteration, dir: basename(l.dir), pages_restored: perIteration[i] })),
    pages_restored: perIteration.reduce((a, b) => a + b, 0),
    memory_digest: digest,
    digest_ok: digestOk,
    steps: last.inventory.steps,
    resumed_steps: 0,
    verify: { ran: false, uninterrupted_digest: null, restored_digest: null, identical: null },
  };
  if (!digestOk) {
    throw new VerifyError(
      `${o.dir}: restored memory does not match the digest recorded at the dump (${digest.slice(0, 12)} != ${String(last.inventory.memoryDigest).slice(0, 12)}); the incremental images missed a change`,
    );
  }
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
    const id = last.inventory.workload;
    const ref = new Kernel({ profile: last.inventory.kernel as never });
    const refProc = createWorkload(ref, workloadSpec(id), id.seed);
    refProc.run(proc.steps);
    const a = memoryDigest(refProc.task.mm);
    const b = memoryDigest(task.mm);
    report.verify = { ran: true, uninterrupted_digest: a, restored_digest: b, identical: a === b };
    if (a !== b) throw new VerifyError(`--verify: after ${proc.steps} steps the restored process differs from an uninterrupted run (${b.slice(0, 12)} != ${a.slice(0, 12)})`);
  }
  return report;
}

/** The spec createWorkload takes for a workload identity. */
function workloadSpec(id: { source: string; spec?: string }): string {
  return typeof id.spec === 'string' ? id.spec : id.source;
}

