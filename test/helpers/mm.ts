import { Kernel, type KernelOptions, type Task } from '../../src/mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE, type MmapRequest } from '../../src/mm/mmap.js';
import { PAGE_SIZE } from '../../src/mm/pgtable-types.js';
import { PM_FILE_HI, PM_MMAP_EXCLUSIVE_HI, PM_PRESENT_HI, PM_SOFT_DIRTY_HI, PM_SWAP_HI, readPagemap } from '../../src/proc/pagemap.js';

export const RW = PROT_READ | PROT_WRITE;

export function newTask(opts: KernelOptions = {}): { kernel: Kernel; task: Task } {
  const kernel = new Kernel({ memoryBytes: 64 << 20, swapBytes: 64 << 20, ...opts });
  return { kernel, task: kernel.spawn('test') };
}

export function map(task: Task, req: Partial<MmapRequest> & { pages: number }): number {
  const r = mmap(task.mm, { prot: RW, kind: 'anon', ...req });
  if (r < 0) throw new Error(`mmap failed: ${-r}`);
  return r;
}

export function write(task: Task, vpn: number, byte = 0xaa): number {
  return task.mm.write8(vpn * PAGE_SIZE, byte);
}

export function read(task: Task, vpn: number): number {
  return task.mm.read8(vpn * PAGE_SIZE);
}

export interface Pme {
  present: boolean;
  swap: boolean;
  file: boolean;
  exclusive: boolean;
  softDirty: boolean;
  pfn: number;
}

export function pagemap(task: Task, start: number, count: number, format: 'pagemap' | 'pagemap2' = 'pagemap'): Pme[] {
  const w = new Uint32Array(count * 2);
  readPagemap(task.mm, start, count, w, format);
  const out: Pme[] = [];
  for (let i = 0; i < count; i++) {
    const hi = w[2 * i + 1];
    out.push({
      present: (hi & PM_PRESENT_HI) !== 0,
      swap: (hi & PM_SWAP_HI) !== 0,
      file: (hi & PM_FILE_HI) !== 0,
      exclusive: (hi & PM_MMAP_EXCLUSIVE_HI) !== 0,
      softDirty: (hi & PM_SOFT_DIRTY_HI) !== 0,
      pfn: w[2 * i],
    });
  }
  return out;
}

export function softDirty(task: Task, start: number, count: number, format: 'pagemap' | 'pagemap2' = 'pagemap'): boolean[] {
  return pagemap(task, start, count, format).map((p) => p.softDirty);
}
