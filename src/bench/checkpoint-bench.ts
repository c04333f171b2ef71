/**
 * Dump and restore throughput for a 1 GiB resident process, next to dd writing the same amount to
 * the same folder in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpIteration } from '../criu/mem-dump.js';
import { openChain } from '../criu/page-read.js';
import { restoreProcess } from '../criu/restore.js';
import { Kernel } from '../mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import type { WorkloadProcess } from '../workload/process.js';

export function benchCheckpoint(bytes = 1024 ** 3): { dump_write_MBps: number; final_dump_digest_s: number; restore_MBps: number; dd_MBps: number; dump_ratio_to_dd: number; restore_ratio_to_dd: number } {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-'));
  try {
    const { dumpS, finalS } = dumpBench(root, bytes);
    (globalThis as { gc?: () => void }).gc?.();
    let t0: bigint;
    t0 = process.hrtime.bigint();
    restoreProcess(openChain(join(root, '2')));
    const restoreS = Number(process.hrtime.bigint() - t0) / 1e9;
    t0 = process.hrtime.bigint();
    execFileSync('dd', ['if=/dev/zero', `of=${join(root, 'dd.img')}`, 'bs=1M', `count=${bytes / 1024 ** 2}`, 'conv=fsync'], { stdio: 'ignore' });
    const ddS = Number(process.hrtime.bigint() - t0) / 1e9;
    const mb = bytes / 1e6;
    const dd = mb / ddS;
    return {
      dump_write_MBps: Math.round(mb / dumpS),
      final_dump_digest_s: +finalS.toFixed(2),
      restore_MBps: Math.round(mb / restoreS),
      dd_MBps: Math.round(dd),
      dump_ratio_to_dd: +(mb / dumpS / dd).toFixed(2),
      restore_ratio_to_dd: +(mb / restoreS / dd).toFixed(2),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Dump a 1 GiB process; its kernel is garbage once this returns. */
function dumpBench(root: string, bytes: number): { dumpS: number; finalS: number } {
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
  const opts = {
    imagesRoot: root,
    trackMem: true,
    format: 'pagemap' as const,
    softDirty: true,
    preDumpMode: 'splice' as const,
    bandwidth: 1024 ** 3,
    kernelName: '6.1' as const,
  };
  // The full first pre-dump writes the whole 1 GiB: that is the write rate.
  let t0 = process.hrtime.bigint();
  dumpIteration(proc, { ...opts, iteration: 1, type: 'pre-dump', hasParent: false });
  const dumpS = Number(process.hrtime.bigint() - t0) / 1e9;
  // The final dump finds nothing dirty but digests the whole memory.
  t0 = process.hrtime.bigint();
  dumpIteration(proc, { ...opts, iteration: 2, type: 'dump', hasParent: true });
  const finalS = Number(process.hrtime.bigint() - t0) / 1e9;
  kernel.exit(task);
  return { dumpS, finalS };
}
