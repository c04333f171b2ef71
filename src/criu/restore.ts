/**
 * The restorer: rebuild the process of an image chain in a fresh task, through nothing but that
 * task's system calls (src/task/syscalls.ts), as CRIU's restorer (criu/pie/restorer.c) does. Its
 * arguments come from page-read (RestoreArgs: the VMAs as mmap/mprotect/madvise arguments, the
 * shared memory objects, the program state, and the pages, an in-parent page from the nearest
 * parent that has it). Every checksum is checked on the way and the memory digest at the end:
 * a restore is either exactly right or refused. Resuming the program (and --verify) is the
 * caller's: src/migrate/resume.ts.
 */
import { basename } from 'node:path';
import { ImageError, VerifyError } from '../errors.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { digestAlgoOf, memDigest as memoryDigest } from '../proc/mem-digest.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_SHARED, MAX_MEMORY_BYTES, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, TaskSyscalls } from '../task/syscalls.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { openChain, restoreArgs, type RestoreArgs } from './page-read.js';
import type { CoreImage, InventoryEntry } from './schema.js';

/** What the restore of an image chain did, before anyone resumes the process. */
export interface ImagesRestoreReport {
  images_dir: string;
  iterations: { iteration: number; dir: string; pages_restored: number }[];
  pages_restored: number;
  memory_digest: string;
  digest_ok: boolean;
  steps: number;
}

/** A restored, stopped process: its task, the program state of core.img, and the report. */
export interface RestoredProcess {
  sys: TaskSyscalls;
  kernel: Kernel;
  task: Task;
  core: CoreImage;
  inventory: InventoryEntry;
  report: ImagesRestoreReport;
}

/**
 * Rebuild the process the restorer's arguments describe: in a fresh machine, or in `into` (a
 * machine kept for restores, as a migration target is: its freed frames are warm and are reused
 * without the host's first-touch cost).
 */
export function restoreProcess(args: RestoreArgs, into?: Kernel): { sys: TaskSyscalls; perIteration: number[] } {
  const dir = args.dir;
  // Every page the images name must fit in the emulated machine: refuse absurd counts up front.
  const needed = args.pages;
  if (needed * PAGE_SIZE > MAX_MEMORY_BYTES) throw new ImageError(`${dir}: the images name ${needed} pages, more than an emulated machine holds`);
  const memoryBytes = Math.min(MAX_MEMORY_BYTES, Math.max(64 << 20, Math.ceil((needed * 1.25) / 512) * 512 * PAGE_SIZE + (16 << 20)));
  if (into !== undefined && into.profile.name !== args.kernel) throw new ImageError(`${dir}: dumped on kernel profile ${args.kernel}, cannot restore into a ${into.profile.name} machine`);
  const sys = into !== undefined ? new TaskSyscalls(into.spawn('restore')) : TaskSyscalls.spawn('restore', { profile: args.kernel, memoryBytes });
  let top = 0;
  for (const v of args.vmas) {
    top = Math.max(top, v.start + v.pages);
    if ((v.flags & MAP_SHARED) !== 0) continue;
    const file = v.file !== null ? sys.openFile(v.file.name, v.file.pages) : undefined;
    // Mapped writable to be filled, then given back its protection.
    const r = sys.mmap({ addr: v.start, pages: v.pages, prot: PROT_READ | PROT_WRITE, flags: v.flags | MAP_FIXED, file, pgoff: v.pgoff });
    if (r < 0) throw new ImageError(`${dir}: cannot map VMA at 0x${(v.start * PAGE_SIZE).toString(16)} (errno ${-r})`);
  }
  restoreShmem(sys, args, top);
  for (const v of args.vmas) for (const advice of v.madv) sys.madvise(v.start, v.pages, advice);
  const perIteration = new Array<number>(args.iterations.length).fill(0);
  const iovecs: Uint8Array[] = [];
  args.readPages(
    (_vpn, data, link) => {
      perIteration[link] += data.length / PAGE_SIZE;
    },
    (vpn, n) => {
      // preadv() straight into its own memory, each page faulted in by the read's store.
      const ok = sys.memoryIovecs(vpn, n, iovecs);
      if (ok < n) throw new ImageError(`${dir}: page 0x${((vpn + ok) * PAGE_SIZE).toString(16)} lies outside every VMA`);
      return iovecs;
    },
  );
  for (const v of args.vmas) if (v.prot !== (PROT_READ | PROT_WRITE)) sys.mprotect(v.start, v.pages, v.prot);
  return { sys, perIteration };
}

/**
 * Shared memory by object: each object is mapped once above every VMA, filled, and each of its
 * VMAs is then moved into place from the object's offset (mremap keeps the object and offset),
 * so every VMA of one object maps the same object, as after the dump.
 */
function restoreShmem(sys: TaskSyscalls, args: RestoreArgs, top: number): void {
  const shmem = args.shmem;
  let off = 0;
  for (const [index, obj] of shmem.objects.entries()) {
    const vmas = args.vmas.filter((v) => (v.flags & MAP_SHARED) !== 0 && v.shmem === index);
    const pages = Math.max(obj.pages, ...vmas.map((v) => v.pgoff + v.pages));
    const at = pages > 0 && vmas.length > 0 ? sys.mmap({ addr: top, pages, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED | MAP_ANONYMOUS }) : -1;
    for (const [first, n] of obj.runs) {
      for (let i = first; i < first + n; i++, off += PAGE_SIZE) {
        if (at >= 0) sys.writePage(at + i, shmem.data.subarray(off, off + PAGE_SIZE));
      }
    }
    if (vmas.length === 0) continue;
    if (at < 0) throw new ImageError(`${args.dir}: no room to map shared memory object ${index} (errno ${-at})`);
    for (const v of vmas) {
      const r = sys.mremap(at + v.pgoff, v.pages, v.pages, MREMAP_MAYMOVE | MREMAP_FIXED, v.start);
      if (r < 0) throw new ImageError(`${args.dir}: cannot map shared VMA at 0x${(v.start * PAGE_SIZE).toString(16)} (errno ${-r}; two VMAs map the same part of one object)`);
    }
    sys.munmap(at, pages);
  }
}

/**
 * Restore the process of the image chain in `dir` and check its memory against the digest the
 * final dump recorded: VerifyError if it differs, or with `report`, digest_ok false in the report.
 */
export function restoreImages(dir: string, o: { onMismatch?: 'throw' | 'report' } = {}): RestoredProcess {
  const args = restoreArgs(openChain(dir));
  const { sys, perIteration } = restoreProcess(args);
  const digest = memoryDigest(sys.task, digestAlgoOf(args.inventory.memoryDigest));
  const digestOk = digest === args.inventory.memoryDigest;
  const report: ImagesRestoreReport = {
    images_dir: dir,
    iterations: args.iterations.map((l, i) => ({ iteration: l.iteration, dir: basename(l.dir), pages_restored: perIteration[i] })),
    pages_restored: perIteration.reduce((a, b) => a + b, 0),
    memory_digest: digest,
    digest_ok: digestOk,
    steps: args.inventory.steps,
  };
  if (!digestOk && o.onMismatch !== 'report') {
    throw new VerifyError(
      `${dir}: restored memory does not match the digest recorded at the dump (${digest.slice(0, 12)} != ${String(args.inventory.memoryDigest).slice(0, 12)}); the incremental images missed a change`,
    );
  }
  return { sys, kernel: sys.task.kernel, task: sys.task, core: args.core, inventory: args.inventory, report };
}
