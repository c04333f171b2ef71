/**
 * The restorer: read an image chain back to its first iteration, rebuild the VMAs and every
 * page (an in-parent page comes from the nearest parent that has it), hand back the program state,
 * and check every checksum and the memory digest. A restore is either exactly right or refused.
 * Resuming the program (and --verify) is the caller's: src/migrate/resume.ts.
 */
import { basename } from 'node:path';
import { ImageError, VerifyError } from '../errors.js';
import { DEFAULT_MEMORY_BYTES, Kernel, type Task } from '../mm/kernel.js';
import { isKernelProfileName } from '../mm/kernel-profile.js';
import { madvise } from '../mm/madvise.js';
import { mmap, munmap, PROT_EXEC, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { MREMAP_FIXED, MREMAP_MAYMOVE, mremap } from '../mm/mremap.js';
import { mprotect } from '../mm/mprotect.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { ShmemFile } from '../mm/shmem.js';
import { VM_ACCOUNT, VM_EXEC, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_READ, VM_WRITE } from '../mm/vma.js';
import { forEachPageRun } from '../proc/mem.js';
import { memDigest as memoryDigest } from '../proc/mem-digest.js';
import { openChain, PageRead, type Chain } from './page-read.js';
import type { CoreImage, InventoryEntry, MmEntry, ShmemImage } from './schema.js';

/** What the restore of an image chain did, before anyone resumes the process. */
export interface ImagesRestoreReport {
  images_dir: string;
  iterations: { iteration: number; dir: string; pages_restored: number }[];
  pages_restored: number;
  memory_digest: string;
  digest_ok: boolean;
  steps: number;
}

/** A restored, stopped process: its kernel and task, the program state of core.img, and the report. */
export interface RestoredProcess {
  kernel: Kernel;
  task: Task;
  core: CoreImage;
  inventory: InventoryEntry;
  report: ImagesRestoreReport;
}

function vmProt(flags: number): number {
  return (flags & VM_READ ? PROT_READ : 0) | (flags & VM_WRITE ? PROT_WRITE : 0) | (flags & VM_EXEC ? PROT_EXEC : 0);
}

/**
 * Rebuild the process of an image chain, reading every page through page-read: in a fresh kernel,
 * or in `into` (a machine kept for restores, as a migration target is: its freed frames are warm
 * and are reused without the host's first-touch cost).
 */
export function restoreProcess(chain: Chain, into?: Kernel): { kernel: Kernel; task: Task; perIteration: number[]; core: CoreImage } {
  const last = chain.links[chain.links.length - 1];
  if (chain.dump === null) throw new ImageError(`${last.dir}: is a pre-dump; restore from the final dump (the largest iteration)`);
  if (!isKernelProfileName(last.inventory.kernel)) throw new ImageError(`${last.dir}: unknown kernel profile '${last.inventory.kernel}'`);
  const { mm: mmImg, shmem, core } = chain.dump;
  // Every page the images name must fit in the emulated machine: refuse absurd counts up front.
  let needed = shmem.data.length / PAGE_SIZE;
  for (const e of last.entries) needed += e.nr_pages;
  const memoryBytes = Math.min(DEFAULT_MEMORY_BYTES, Math.max(64 << 20, Math.ceil((needed * 1.25) / 512) * 512 * PAGE_SIZE + (16 << 20)));
  if (needed * PAGE_SIZE > DEFAULT_MEMORY_BYTES) throw new ImageError(`${last.dir}: the images name ${needed} pages, more than an emulated machine holds`);
  if (into !== undefined && into.profile.name !== last.inventory.kernel) throw new ImageError(`${last.dir}: dumped on kernel profile ${last.inventory.kernel}, cannot restore into a ${into.profile.name} machine`);
  const kernel = into ?? new Kernel({ profile: last.inventory.kernel, memoryBytes });
  const task = kernel.spawn('restore');
  const mm = task.mm;
  let top = 0;
  for (const v of mmImg.vmas) {
    top = Math.max(top, v.end);
    if (v.kind === 'shared') continue;
    const file = v.kind === 'file' && v.file !== null ? ShmemFile.withPattern(v.file.name, v.file.pages) : undefined;
    // Mapped writable to be filled, then given back its protection: charged only if it was.
    const noreserve = (v.flags & VM_ACCOUNT) === 0;
    const r = mmap(mm, { start: v.start, pages: v.end - v.start, prot: PROT_READ | PROT_WRITE, kind: v.kind, fixed: true, file, pgoff: v.pgoff, noreserve });
    if (r < 0) throw new ImageError(`${last.dir}: cannot map VMA at 0x${(v.start * PAGE_SIZE).toString(16)} (errno ${-r})`);
  }
  restoreShmem(last.dir, task, mmImg, shmem, top);
  for (const v of mmImg.vmas) {
    if ((v.flags & VM_HUGEPAGE) !== 0) madvise(mm, v.start, v.end - v.start, 'hugepage');
    if ((v.flags & VM_NOHUGEPAGE) !== 0) madvise(mm, v.start, v.end - v.start, 'nohugepage');
  }
  // Private pages, from the final pagemap, following in-parent entries down the chain.
  const perIteration = new Array<number>(chain.links.length).fill(0);
  const pieces: Uint8Array[] = [];
  new PageRead(chain).readAll(
    (_vpn, data, link) => {
      perIteration[link] += data.length / PAGE_SIZE;
    },
    (vpn, n) => {
      // Fault the pages in (a store, as the restorer's own writes would), then read straight into them.
      for (let i = 0; i < n; i++) {
        if (mm.store8(vpn + i, 0, 0) < 0) throw new ImageError(`${last.dir}: page 0x${((vpn + i) * PAGE_SIZE).toString(16)} lies outside every VMA`);
      }
      pieces.length = 0;
      forEachPageRun(mm, n, (i) => vpn + i, (arr, off, len) => pieces.push(arr.subarray(off, off + len)));
      return pieces;
    },
  );
  for (const v of mmImg.vmas) {
    const prot = vmProt(v.flags);
    if (prot !== (PROT_READ | PROT_WRITE)) mprotect(mm, v.start, v.end - v.start, prot);
  }
  return { kernel, task, perIteration, core };
}

/**
 * Shared memory by object: each object is mapped once above every VMA, filled, and each of its
 * VMAs is then moved into place from the object's offset (mremap keeps the object and offset),
 * so every VMA of one object maps the same object, as after the dump.
 */
function restoreShmem(dir: string, task: Task, mmImg: MmEntry, shmem: ShmemImage, top: number): void {
  const mm = task.mm;
  let off = 0;
  for (const [index, obj] of shmem.objects.entries()) {
    const vmas = mmImg.vmas.filter((v) => v.kind === 'shared' && v.shmem === index);
    const pages = Math.max(obj.pages, ...vmas.map((v) => v.pgoff + (v.end - v.start)));
    const at = pages > 0 && vmas.length > 0 ? mmap(mm, { start: top, pages, prot: PROT_READ | PROT_WRITE, kind: 'shared' }) : -1;
    for (const [first, n] of obj.runs) {
      for (let i = first; i < first + n; i++, off += PAGE_SIZE) {
        if (at >= 0) mm.populatePage(at + i, shmem.data.subarray(off, off + PAGE_SIZE));
      }
    }
    if (vmas.length === 0) continue;
    if (at < 0) throw new ImageError(`${dir}: no room to map shared memory object ${index} (errno ${-at})`);
    for (const v of vmas) {
      const len = v.end - v.start;
      const r = mremap(mm, at + v.pgoff, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, v.start);
      if (r < 0) throw new ImageError(`${dir}: cannot map shared VMA at 0x${(v.start * PAGE_SIZE).toString(16)} (errno ${-r}; two VMAs map the same part of one object)`);
    }
    munmap(mm, at, pages);
  }
}

/**
 * Restore the process of the image chain in `dir` and check its memory against the digest the
 * final dump recorded (VerifyError if it differs).
 */
export function restoreImages(dir: string): RestoredProcess {
  const chain = openChain(dir);
  const last = chain.links[chain.links.length - 1];
  const { kernel, task, perIteration, core } = restoreProcess(chain);
  const digest = memoryDigest(task);
  const digestOk = digest === last.inventory.memoryDigest;
  const report: ImagesRestoreReport = {
    images_dir: dir,
    iterations: chain.links.map((l, i) => ({ iteration: l.inventory.iteration, dir: basename(l.dir), pages_restored: perIteration[i] })),
    pages_restored: perIteration.reduce((a, b) => a + b, 0),
    memory_digest: digest,
    digest_ok: digestOk,
    steps: last.inventory.steps,
  };
  if (!digestOk) {
    throw new VerifyError(
      `${dir}: restored memory does not match the digest recorded at the dump (${digest.slice(0, 12)} != ${String(last.inventory.memoryDigest).slice(0, 12)}); the incremental images missed a change`,
    );
  }
  return { kernel, task, core, inventory: last.inventory, report };
}
