/**
 * What crosses a link: the loopback page server's write rate next to the local write rate of the
 * same process in the same run, and the LZ4 page codec (--compress) on real page data: the default
 * hot-cold workload and a real program's pages (the Lackey trace of fixtures/traces).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from '../criu/image.js';
import { DEFAULT_DUMP_OPTIONS, iterativeDump } from '../migrate/iterative.js';
import { dumpIteration } from '../criu/mem-dump.js';
import { CompressedCursor, RegionCompressor, DEFAULT_COMPRESS_REGION } from '../criu/page-compress.js';
import { PageServerLink } from '../criu/page-xfer-remote.js';
import { benchProcess, DUMP_OPTS, memPieces } from './checkpoint-bench.js';
import { alternateAsync, compare, seconds, settle, timed, type Compared } from './rounds.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A node process that prints "listening on HOST:PORT" to `log`: its port, and how to stop it. */
function startListening(args: string[], log: string, what: string): { port: number; stop: () => void } {
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, 'ignore'] });
  closeSync(fd);
  for (let i = 0; i < 200; i++) {
    const m = /^listening on [^:]+:(\d+)$/m.exec(readFileSync(log, 'utf8'));
    if (m !== null) return { port: Number(m[1]), stop: () => child.kill('SIGTERM') };
    sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`${what} did not start`);
}

/** A page server in its own process (this thread blocks while it streams); its port. */
function startServer(dir: string, log: string): { port: number; stop: () => void } {
  return startListening([join(ROOT, 'bin', 'tracker.js'), 'page-server', '-D', dir, '--port', '0', '--keep-running'], log, 'page server');
}

/** The bare Node receiver: each connection's bytes written to a new file and fsynced, then one byte back. */
const SOCKET_SINK = `
const net = require('node:net'); const fs = require('node:fs');
let n = 0;
const srv = net.createServer((s) => {
  const fd = fs.openSync(process.argv[1] + '/' + (n++) + '.img', 'w');
  let need = -1; let got = 0; let head = Buffer.alloc(0);
  s.on('data', (d) => {
    if (need < 0) { head = Buffer.concat([head, d]); if (head.length < 8) return; need = Number(head.readBigUInt64LE(0)); d = head.subarray(8); }
    fs.writeSync(fd, d); got += d.length;
    if (got === need) { fs.fsyncSync(fd); fs.closeSync(fd); s.end(Buffer.from([1])); }
  });
});
srv.listen(0, '127.0.0.1', () => console.log('listening on 127.0.0.1:' + srv.address().port));
`;

/** A bare Node receiver in its own process: each connection's bytes written to a new file and fsynced, then one byte back. */
function startSocketSink(dir: string, log: string): { port: number; stop: () => void } {
  mkdirSync(dir, { recursive: true });
  return startListening(['-e', SOCKET_SINK, dir], log, 'socket sink');
}

/**
 * The same receiver reading with net's onread into one 1 MiB buffer, as the page server reads
 * (one callback per read, no new Buffer per 64 KiB): Node offers onread only to the sockets it
 * connects, so this one connects to the sender. One connection per process.
 */
const SOCKET_SINK_ONREAD = `
const net = require('node:net'); const fs = require('node:fs');
const fd = fs.openSync(process.argv[2], 'w');
let need = -1; let got = 0; let head = Buffer.alloc(0);
const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[1]), onread: { buffer: Buffer.allocUnsafe(1 << 20), callback: (n, b) => {
  let d = b.subarray(0, n);
  if (need < 0) { head = Buffer.concat([head, d]); if (head.length < 8) return; need = Number(head.readBigUInt64LE(0)); d = head.subarray(8); }
  fs.writeSync(fd, d); got += d.length;
  if (got === need) { fs.fsyncSync(fd); fs.closeSync(fd); s.end(Buffer.from([1])); }
} } });
`;

/** Send the length and the pieces over a connected socket, with its backpressure; resolves (seconds) on the receiver's answer. */
function sendPiecesOn(sock: Socket, pieces: readonly Uint8Array[], bytes: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    sock.once('data', () => {
      resolve(seconds(t0));
      sock.destroy();
    });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(bytes));
    sock.write(len);
    void (async () => {
      for (const p of pieces) {
        for (let at = 0; at < p.length; at += 1 << 20) {
          if (!sock.write(p.subarray(at, Math.min(p.length, at + (1 << 20))))) await new Promise((r) => sock.once('drain', r));
        }
      }
    })();
  });
}

/** To the socket sink: connect, then send. */
function sendPieces(port: number, pieces: readonly Uint8Array[], bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => resolve(sendPiecesOn(sock, pieces, bytes)));
    sock.setNoDelay(true);
    sock.on('error', reject);
  });
}

/** To an onread sink started for this connection (its start is not timed): listen, then send once it connects. */
function sendPiecesOnread(file: string, pieces: readonly Uint8Array[], bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer((sock) => {
      srv.close();
      sock.setNoDelay(true);
      sock.on('error', reject);
      resolve(sendPiecesOn(sock, pieces, bytes));
    });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const child = spawn(process.execPath, ['-e', SOCKET_SINK_ONREAD, String((srv.address() as { port: number }).port), file], { stdio: 'ignore' });
      child.on('error', reject);
    });
  });
}

/**
 * The first (full) pre-dump of a `bytes` process through a loopback page server, next to the same
 * dump written locally and to a bare Node socket pair (sender here, receiver in its own process
 * writing and fsyncing), in alternating rounds. Connections are set up before the clock starts.
 * `socket_pair_onread` is the same pair with the receiver reading through net's onread (as the
 * page server does): what Node's 'data' events cost the plain pair.
 */
export async function benchLoopback(rounds: number, bytes = 512 * 1024 ** 2): Promise<Compared> {
  const root = mkdtempSync(join(tmpdir(), 'tracker-bench-xfer-'));
  const { proc, start, exit } = benchProcess(bytes);
  const pieces = memPieces(proc, start, bytes / 4096);
  const sink = startSocketSink(join(root, 'sink'), join(root, 'sink.log'));
  const opts = { ...DUMP_OPTS, iteration: 1, type: 'pre-dump' as const, hasParent: false };
  let round = 0;
  try {
    const times = await alternateAsync(rounds, {
      page_server: () => {
        const dir = join(root, `served-${round++}`);
        settle();
        const server = startServer(dir, join(root, 'server.log'));
        try {
          const link = new PageServerLink({ address: '127.0.0.1', port: server.port }, { force: false, autoDedup: false });
          const s = timed(() => dumpIteration(proc, { ...opts, imagesRoot: root, xfer: link.open(1) }));
          link.close();
          return s;
        } finally {
          server.stop();
          settle(dir);
        }
      },
      local: () => {
        settle(join(root, 'local'));
        return timed(() => dumpIteration(proc, { ...opts, imagesRoot: root, dirName: 'local' }));
      },
      socket_pair: async () => {
        settle();
        const s = await sendPieces(sink.port, pieces, bytes);
        settle(...readdirSync(join(root, 'sink')).map((f) => join(root, 'sink', f)));
        return s;
      },
      socket_pair_onread: async () => {
        const file = join(root, 'sink-onread.img');
        settle();
        const s = await sendPiecesOnread(file, pieces, bytes);
        settle(file);
        return s;
      },
    });
    return compare(times, 'page_server', bytes, 'MB/s');
  } finally {
    sink.stop();
    pieces.length = 0;
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
