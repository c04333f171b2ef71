/**
 * A shared anonymous memory object as a dumper sees it through one of its mappings
 * (map_files/ and pagemap of the mapping, as CRIU's shmem.c dumps it): its size and the pages
 * that hold data, resident or swapped, by index into the object.
 */
import type { Task } from '../mm/kernel.js';

export interface ShmemObjectView {
  id: number;
  pages: number;
}

/** The object behind the shared mapping that contains page vpn, or null. */
export function shmemObject(task: Task, vpn: number): ShmemObjectView | null {
  const vma = task.mm.findVma(vpn);
  if (vma === null || vma.kind !== 'shared' || vma.file === null) return null;
  return { id: vma.file.id, pages: vma.file.nrPages };
}

/**
 * Feed `sink` the pages of the object behind the mapping at vpn that hold data, in index order:
 * (first index of a run, its pages' contents). Pages never touched are not reported.
 */
export function readShmemPages(task: Task, vpn: number, sink: (index: number, data: Uint8Array) => void): void {
  const vma = task.mm.findVma(vpn);
  if (vma === null || vma.kind !== 'shared' || vma.file === null) return;
  const f = vma.file;
  const mm = task.mm;
  for (let i = 0; i < f.nrPages; i++) {
    if (f.pfn[i] >= 0) {
      sink(i, mm.mem.frame(f.pfn[i]));
    } else if (f.swap[i] !== 0) sink(i, mm.swap.read(f.swap[i]));
  }
}
