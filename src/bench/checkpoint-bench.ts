/**
 * Dump and restore throughput for a 1 GiB resident process, next to dd writing the same amount to
 * the same folder in the same run; and a sparse process (4 TiB mapped, three pages written) whose
 * dump and restore cost must follow its three resident pages, next to a one-page process dumped
 * the same way in the same run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_DUMP_OPTIONS, iterativeDump } from '../migrate/iterative.js';
import { restore } from '../migrate/resume.js';
import { dumpIteration } from '../criu/mem-dump.js';
import { openChain, restoreArgs } from '../criu/page-read.js';
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
    restoreProcess(restoreArgs(openChain(join(root, '2'))));
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

export interface SparseBench {
  /** The 4 TiB mapping with three pages written: dump --iterative (2 iterations) and restore --verify. */
  sparse_dump_s: number;
  sparse_restore_s: number;
  sparse_peak_rss_MB: number;
  /** The same steps on a 4-page mapping with the same three pages written: the floor of a run. */
  baseline_dump_s: number;
  baseline_restore_s: number;
  baseline_peak_rss_MB: number;
}

const SPARSE_OPS = 'mmap a 1073741824 none anon\nmprotect a 0 1 rw\nwrite a 0\nmprotect a 536870912 1 rw\nwrite a 536870912\nmprotect a 1073741823 1 rw\nwrite a 1073741823\n';
const BASELINE_OPS = 'mmap a 4 none anon\nmprotect a 0 1 rw\nwrite a 0\nmprotect a 1 1 rw\nwrite a 1\nmprotect a 3 1 rw\nwrite a 3\n';

/** Each case in a fresh node process, so its peak RSS is its own. */
export function benchSparse(): SparseBench {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-sparse-'));
  try {
    const run = (name: string, ops: string) => {
      const file = join(root, `${name}.ops`);
      writeFileSync(file, ops);
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'sparse-child', file, join(root, name)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`sparse bench ${name} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as { dump_s: number; restore_s: number; peak_rss_MB: number };
    };
    const base = run('baseline', BASELINE_OPS);
    const sparse = run('sparse', SPARSE_OPS);
    return {
      sparse_dump_s: sparse.dump_s,
      sparse_restore_s: sparse.restore_s,
      sparse_peak_rss_MB: sparse.peak_rss_MB,
      baseline_dump_s: base.dump_s,
      baseline_restore_s: base.restore_s,
      baseline_peak_rss_MB: base.peak_rss_MB,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function sparseChild(ops: string, dir: string): void {
  let t0 = process.hrtime.bigint();
  iterativeDump({ ...DEFAULT_DUMP_OPTIONS, imagesDir: dir, workload: ops, seed: 1, kernel: '6.1', interval: 10, policy: 'fixed', iterations: 2, force: false, memoryBytes: 64 << 20 });
  const dumpS = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  const r = restore({ dir: join(dir, '2'), resumeSteps: 0, verify: true });
  if (r.verify.identical !== true) throw new Error('sparse restore did not verify');
  const restoreS = Number(process.hrtime.bigint() - t0) / 1e9;
  // VmHWM, not getrusage's maxrss: that one keeps the parent's peak across fork and exec.
  const hwmKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
  process.stdout.write(JSON.stringify({ dump_s: +dumpS.toFixed(3), restore_s: +restoreS.toFixed(3), peak_rss_MB: Math.round(hwmKb / 1024) }));
}

if (process.argv[2] === 'sparse-child' && import.meta.url === pathToFileURL(process.argv[1]).href) sparseChild(process.argv[3], process.argv[4]);
