/**
 * Dump and restore throughput for a 1 GiB resident process, next to dd writing the same amount to
 * the same folder in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpIteration } from '../criu/mem-dump.js';
import { loadChain, restoreProcess } from '../criu/restore.js';
import { Kernel } from '../mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import type { WorkloadProcess } from '../workload/process.js';

export function benchCheckpoint(bytes = 1024 ** 3): { dump_write_MBps: number; restore_MBps: number; dd_MBps: number } {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-'));
  try {
    const kernel = new Kernel();
    const task = kernel.spawn('bench');
    const pages = bytes / 4096;
    const start = mmap(task.mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
    for (let p = 0; p < pages; p++) task.mm.store8(start + p, 0, (p & 255) | 1);
    const proc: WorkloadProcess = {
      kernel,
      task,
      identity: { model: 'bench', source: 'bench', seed: 0, params: {} },
      steps: 0,
      run: () => undefined,
      saveState: () => ({ identity: { model: 'bench', source: 'bench', seed: 0, params: {} }, steps: 0 }),
    };
    let t0 = process.hrtime.bigint();
    dumpIteration(proc, {
      imagesRoot: root,
      iteration: 1,
      type: 'dump',
      trackMem: true,
      hasParent: false,
      format: 'pagemap',
      softDirty: true,
      preDumpMode: 'splice',
      bandwidth: 1024 ** 3,
      kernelName: '6.1',
    });
    const dumpS = Number(process.hrtime.bigint() - t0) / 1e9;
    kernel.exit(task);
    t0 = process.hrtime.bigint();
    restoreProcess(loadChain(join(root, '1')));
    const restoreS = Number(process.hrtime.bigint() - t0) / 1e9;
    t0 = process.hrtime.bigint();
    execFileSync('dd', ['if=/dev/zero', `of=${join(root, 'dd.img')}`, 'bs=1M', `count=${bytes / 1024 ** 2}`, 'conv=fsync'], { stdio: 'ignore' });
    const ddS = Number(process.hrtime.bigint() - t0) / 1e9;
    const mb = bytes / 1e6;
    return { dump_write_MBps: Math.round(mb / dumpS), restore_MBps: Math.round(mb / restoreS), dd_MBps: Math.round(mb / ddS) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
