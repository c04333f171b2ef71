/**
 * What crosses a link: the loopback page server's write rate next to the local write rate of the
 * same process in the same run, and the LZ4 page codec (--compress) on real page data: the default
 * hot-cold workload and a real program's pages (the Lackey trace of fixtures/traces).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from '../criu/image.js';
import { DEFAULT_DUMP_OPTIONS, iterativeDump } from '../migrate/iterative.js';
import { dumpIteration } from '../criu/mem-dump.js';
import { CompressedCursor, RegionCompressor, DEFAULT_COMPRESS_REGION } from '../criu/page-compress.js';
import { PageServerLink } from '../criu/page-xfer-remote.js';
import { Kernel } from '../mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import type { WorkloadProcess } from '../workload/process.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A page server in its own process (this thread blocks while it streams); its port. */
function startServer(dir: string, log: string): { port: number; stop: () => void } {
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tracker.js'), 'page-server', '-D', dir, '--port', '0', '--keep-running'], { stdio: ['ignore', fd, 'ignore'] });
  closeSync(fd);
  for (let i = 0; i < 200; i++) {
    const m = /^listening on [^:]+:(\d+)$/m.exec(readFileSync(log, 'utf8'));
    if (m !== null) return { port: Number(m[1]), stop: () => child.kill('SIGTERM') };
    sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('page server did not start');
}

function benchProcess(bytes: number): { proc: WorkloadProcess; exit: () => void } {
  const kernel = new Kernel();
  const task = kernel.spawn('bench');
  const pages = bytes / 4096;
  const start = mmap(task.mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let p = 0; p < pages; p++) task.mm.store8(start + p, 0, (p & 255) | 1);
  const id = { model: 'bench', source: 'bench', seed: 0, params: {} };
  const proc: WorkloadProcess = { kernel, task, identity: id, steps: 0, run: () => undefined, saveState: () => ({ identity: id, steps: 0 }) };
  return { proc, exit: () => kernel.exit(task) };
}

/** The first (full) pre-dump of a `bytes` process written locally and through a loopback page server. */
export function benchLoopback(bytes = 256 * 1024 ** 2): { local_write_MBps: number; loopback_MBps: number; loopback_ratio_to_local: number } {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-xfer-'));
  const { proc, exit } = benchProcess(bytes);
  const server = startServer(join(root, 'served'), join(root, 'server.log'));
  try {
    const opts = { trackMem: true, format: 'pagemap' as const, softDirty: true, kernelName: '6.1' as const, iteration: 1, type: 'pre-dump' as const, hasParent: false };
    let t0 = process.hrtime.bigint();
    dumpIteration(proc, { ...opts, imagesRoot: root, dirName: 'local' });
    const localS = Number(process.hrtime.bigint() - t0) / 1e9;
    t0 = process.hrtime.bigint();
    const link = new PageServerLink({ address: '127.0.0.1', port: server.port }, { force: false, autoDedup: false });
    dumpIteration(proc, { ...opts, imagesRoot: root, xfer: link.open(1) });
    link.close();
    const remoteS = Number(process.hrtime.bigint() - t0) / 1e9;
    const mb = bytes / 1e6;
    return { local_write_MBps: Math.round(mb / localS), loopback_MBps: Math.round(mb / remoteS), loopback_ratio_to_local: +(localS / remoteS).toFixed(2) };
  } finally {
    server.stop();
    exit();
    rmSync(root, { recursive: true, force: true });
  }
}

interface CodecFigures {
  raw_MB: number;
  ratio: number;
  compress_MBps: number;
  decompress_MBps: number;
}

/** The page data of every iteration of a dump, compressed and decompressed in regions. */
function codecOn(dir: string): CodecFigures {
  const raw: Buffer[] = [];
  for (const it of readdirSync(dir)) raw.push(readFileSync(join(dir, it, 'pages.img')).subarray(24));
  const total = raw.reduce((a, b) => a + b.length, 0);
  let best = { c: Infinity, d: Infinity, stored: 0 };
  for (let round = 0; round < 3; round++) {
    const frames: Uint8Array[][] = [];
    let t0 = process.hrtime.bigint();
    let stored = 0;
    for (const b of raw) {
      const z = new RegionCompressor(DEFAULT_COMPRESS_REGION);
      frames.push([...z.frames([b])].map((f) => Buffer.from(f)));
      stored += z.stored;
    }
    const c = Number(process.hrtime.bigint() - t0) / 1e9;
    const root = mkdtempSync(join(tmpdir(), 'tracker-bench-codec-'));
    let d = 0;
    try {
      // Decoding goes through page-read's cursor over the frames, as restore reads them.
      frames.forEach((fs, i) => {
        const body = Buffer.concat(fs);
        const path = join(root, `${i}.img`);
        const file = Buffer.concat([Buffer.alloc(24), body]);
        file.writeUInt32LE(crc(body), 16);
        writeFileSync(path, file);
        const s0 = process.hrtime.bigint();
        const cur = new CompressedCursor(path, body.length, crc(body), raw[i].length, DEFAULT_COMPRESS_REGION);
        cur.read(0, raw[i].length, () => undefined);
        cur.finish();
        cur.close();
        d += Number(process.hrtime.bigint() - s0) / 1e9;
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    if (c + d < best.c + best.d) best = { c, d, stored };
  }
  const mb = total / 1e6;
  return { raw_MB: +mb.toFixed(1), ratio: +(total / best.stored).toFixed(2), compress_MBps: Math.round(mb / best.c), decompress_MBps: Math.round(mb / best.d) };
}

const crc = (b: Uint8Array) => crc32(b) >>> 0;

/** LZ4 on the quick start's pages (hot-cold, 8 iterations) and on the Lackey trace's. */
export function benchCompression(): { hot_cold: CodecFigures; lackey_hotcold: CodecFigures } {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-lz4-'));
  try {
    const base = { ...DEFAULT_DUMP_OPTIONS, seed: 1, kernel: '6.1' as const, force: false };
    iterativeDump({ ...base, imagesDir: join(root, 'hc'), workload: 'hot-cold' });
    iterativeDump({ ...base, imagesDir: join(root, 'lk'), workload: join(ROOT, 'fixtures', 'traces', 'hotcold.lackey.gz'), interval: { seconds: 0.001 } });
    return { hot_cold: codecOn(join(root, 'hc')), lackey_hotcold: codecOn(join(root, 'lk')) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
