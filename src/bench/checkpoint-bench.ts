/**
 * Dump, digest and restore of a 1 GiB resident process, each next to its yardsticks in alternating
 * rounds (rounds.ts): a minimal Node program doing the same I/O (yardsticks.ts) and dd. And a
 * sparse process (4 TiB mapped, three pages written) whose dump and restore cost must follow its
 * three resident pages, next to a one-page process dumped the same way in the same run.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import blakeHash from '@napi-rs/blake-hash';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
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
import { asBuffer, memDigest } from '../proc/mem-digest.js';
import { readMemRuns } from '../proc/pid-mem.js';
import type { WorkloadProcess } from '../workload/process.js';
import { alternate, compare, gc, settle, timed, type Compared } from './rounds.js';
import { ddRead, ddWrite, nodeReader, nodeWriter } from './yardsticks.js';

/** A process with `bytes` of anonymous memory, every page written (its first byte non-zero). */
export function benchProcess(bytes: number): { proc: WorkloadProcess; start: number; exit: () => void } {
  const kernel = new Kernel();
  const task = kernel.spawn('bench');
  const pages = bytes / 4096;
  const start = mmap(task.mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let p = 0; p < pages; p++) task.mm.store8(start + p, 0, (p & 255) | 1);
  const id = { model: 'bench', source: 'bench', seed: 0, params: {} };
  const proc: WorkloadProcess = { kernel, task, identity: id, steps: 0, run: () => undefined, saveState: () => ({ identity: id, steps: 0 }) };
  return { proc, start, exit: () => kernel.exit(task) };
}

export const DUMP_OPTS = {
  trackMem: true,
  format: 'pagemap' as const,
  softDirty: true,
  kernelName: '6.1' as const,
};

/** The page data of the process as tracker's dumper reads it: views of its frames, in order. */
export function memPieces(proc: WorkloadProcess, start: number, pages: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  readMemRuns(proc.task, [start], [pages], 1, (d) => pieces.push(d));
  return pieces;
}

/** The CRC-32 a pages.img header records. */
function pagesCrc(path: string): number {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(24);
  readSync(fd, b, 0, 24, 0);
  closeSync(fd);
  return b.readUInt32LE(16);
}

export interface CheckpointBench {
  /** The first (full) pre-dump: pages.img and the small images, fsynced, renamed. */
  dump: Compared;
  /** The memory digest the final dump records (BLAKE3 through /proc/PID/mem). */
  digest: Compared;
  /** restore of the chain into a new machine (frames the host has not touched yet). */
  restore: Compared;
  /** restore into a machine kept from an earlier restore (its frames warm). */
  restore_warm: Compared;
}

export function benchCheckpoint(rounds: number, bytes = 1024 ** 3): CheckpointBench {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-'));
  try {
    const pages = bytes / 4096;
    const { proc, start, exit } = benchProcess(bytes);
    const pieces = memPieces(proc, start, pages);
    let crc = -1;
    const dumpTimes = alternate(rounds, {
      tracker: () => {
        settle(join(root, 'd'));
        const s = timed(() => dumpIteration(proc, { ...DUMP_OPTS, imagesRoot: root, dirName: 'd', iteration: 1, type: 'pre-dump', hasParent: false }));
        crc = pagesCrc(join(root, 'd', 'pages.img'));
        return s;
      },
      node_writer: () => {
        settle(join(root, 'n.img'));
        return nodeWriter(join(root, 'n.img'), pieces, crc < 0 ? undefined : crc);
      },
      dd: () => {
        settle(join(root, 'dd.img'));
        return ddWrite(join(root, 'dd.img'), bytes);
      },
    });
    settle(join(root, 'n.img'), join(root, 'dd.img'), join(root, 'd'));
    // The digest (BLAKE3 over the resident runs) next to SHA-256 (what it was) and BLAKE3 of the same bytes, fed straight in.
    const digestTimes = alternate(rounds, {
      tracker: () => timed(() => memDigest(proc.task)),
      node_sha256: () =>
        timed(() => {
          const h = createHash('sha256');
          for (const p of pieces) h.update(p);
          h.digest();
        }),
      blake3: () =>
        timed(() => {
          const h = new blakeHash.Blake3Hasher();
          for (const p of pieces) h.update(asBuffer(p));
          h.digestBuffer();
        }),
    });
    // A chain to restore: the full pre-dump, then the final dump (every page in its parent).
    dumpIteration(proc, { ...DUMP_OPTS, imagesRoot: root, iteration: 1, type: 'pre-dump', hasParent: false });
    dumpIteration(proc, { ...DUMP_OPTS, imagesRoot: root, iteration: 2, type: 'dump', hasParent: true });
    pieces.length = 0;
    exit();
    gc();
    const img = join(root, '1', 'pages.img');
    const h = { crc: pagesCrc(img) };
    const restoreTimes = alternate(rounds, {
      tracker: () => timed(() => restoreProcess(restoreArgs(openChain(join(root, '2'))))),
      node_reader: () => nodeReader(img, bytes, h.crc, null).s,
    });
    gc();
    // Warm: a machine kept from an earlier restore, its process exited; buffers kept likewise. But
    // every child this process spawns (dd, and settle()'s sync) is a fork(), which write-protects
    // all of this process's private memory for copy-on-write: the next write to each page, from
    // JavaScript or by the kernel in read(2), is a write-protect fault, ~15 µs each on this VM
    // (after spawnSync('true'), filling 64 MiB of held memory took 16,403 minor faults and 250 ms,
    // then 3 ms). A kernel write stays slow even after a user-space one: after dd, reading
    // pages.img into 1 GiB of held buffers took 3.2 s, then 0.3 s, a user-space write to every page
    // before it notwithstanding. So "warm" is what a second identical run finds: each case runs
    // once untimed, then timed, with no fork between.
    const machine = restoreProcess(restoreArgs(openChain(join(root, '2')))).sys;
    let task = machine.task;
    const warm = nodeReader(img, bytes, h.crc, null).buffers;
    const restoreInto = () => {
      machine.task.kernel.exit(task);
      task = restoreProcess(restoreArgs(openChain(join(root, '2'))), machine.task.kernel).sys.task;
    };
    const warmTimes = alternate(rounds, {
      tracker: () => {
        restoreInto();
        return timed(restoreInto);
      },
      node_reader: () => {
        nodeReader(img, bytes, h.crc, warm);
        return nodeReader(img, bytes, h.crc, warm).s;
      },
      dd: () => {
        settle(join(root, 'dd.img'));
        return ddWrite(join(root, 'dd.img'), bytes);
      },
      dd_read: () => ddRead(img),
    });
    return {
      dump: compare(dumpTimes, 'tracker', bytes, 'MB/s'),
      digest: compare(digestTimes, 'tracker', bytes, 'MB/s'),
      restore: compare(restoreTimes, 'tracker', bytes, 'MB/s'),
      restore_warm: compare(warmTimes, 'tracker', bytes, 'MB/s'),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
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
