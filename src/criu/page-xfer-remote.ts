/**
 * The page server client: a page-xfer that streams each iteration to `tracker page-server`
 * (CRIU's dump --page-server). The dumper is synchronous and sockets are not, so a worker thread
 * owns the socket: the dumper writes protocol frames into a ring of shared memory and blocks
 * (Atomics.wait) only when the ring is full or for the server's OK at commit. Pages go out as they
 * are collected; nothing is held whole in memory (the ring is 8 MiB).
 */
import { Worker } from 'node:worker_threads';
import { EXIT_IMAGE, EXIT_USAGE, ImageError, IoError, UsageError } from '../errors.js';
import { crc32, crc32Combine, encodeImage, IMAGE_FILES } from './image.js';
import type { PageXfer } from './page-xfer.js';
import { frameParts, HELLO_AUTO_DEDUP, HELLO_FORCE, MAX_DATA, PROTO_MAGIC, PROTO_VERSION, T, u32, WIRE_KINDS } from './page-server-proto.js';

/** Control words (BigInt64). */
export const C = { STATE: 0, W: 1, R: 2, ACK: 3, CLOSE: 4, MSG_LEN: 5, ERR_CODE: 6 } as const;
export const S = { CONNECTING: 0, CONNECTED: 1, ERROR: 2, CLOSED: 3 } as const;

export interface LinkData {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  message: SharedArrayBuffer;
  host: string;
  port: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export interface PageServerTarget {
  address: string;
  port: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

const RING_BYTES = 8 * 1024 * 1024;
const CONNECT_MS = 10_000;
/** The longest the server may take to write, fsync and dedup one iteration. */
const COMMIT_MS = 10 * 60_000;
const STALL_MS = 60_000;

/** One connection to a page server, for the iterations of one dump. */
export class PageServerLink {
  private readonly ctl: BigInt64Array;
  private readonly ring: Buffer;
  private readonly msg: Uint8Array;
  private readonly worker: Worker;
  private w = 0n;
  private acks = 0n;
  private readonly where: string;
  broken = false;

  constructor(t: PageServerTarget, o: { force: boolean; autoDedup: boolean }) {
    this.where = `${t.address}:${t.port}`;
    const data: LinkData = {
      control: new SharedArrayBuffer(8 * 8),
      ring: new SharedArrayBuffer(RING_BYTES),
      message: new SharedArrayBuffer(1100),
      host: t.address,
      port: t.port,
      tls: t.tls,
    };
    this.ctl = new BigInt64Array(data.control);
    this.ring = Buffer.from(data.ring);
    this.msg = new Uint8Array(data.message);
    this.worker = new Worker(new URL('./page-xfer-remote-worker.js', import.meta.url), { workerData: data });
    this.worker.unref();
    this.worker.on('error', () => undefined);
    const until = Date.now() + CONNECT_MS;
    while (Atomics.load(this.ctl, C.STATE) === BigInt(S.CONNECTING)) {
      if (Date.now() > until) this.fail('no answer within 10 s');
      Atomics.wait(this.ctl, C.STATE, BigInt(S.CONNECTING), 200);
    }
    this.check();
    this.send(T.HELLO, u32(PROTO_MAGIC, PROTO_VERSION, (o.force ? HELLO_FORCE : 0) | (o.autoDedup ? HELLO_AUTO_DEDUP : 0)));
    this.awaitAck(CONNECT_MS);
    this.connected = true;
  }

  /** The server answered HELLO: from then on, a failure loses a connection that worked. */
  private connected = false;

  private fail(why: string, code = 5): never {
    this.broken = true;
    void this.worker.terminate();
    const text = `page server ${this.where}: ${why}`;
    if (code === EXIT_USAGE) throw new UsageError(text);
    if (code === EXIT_IMAGE) throw new ImageError(text);
    if (!this.connected) throw new IoError(`cannot reach the page server at ${this.where} (${why}); nothing was sent: start \`tracker page-server\` there or check --address and --port`);
    throw new IoError(`lost the page server at ${this.where} (${why}); the iterations it confirmed are complete there`);
  }

  private check(): void {
    if (Atomics.load(this.ctl, C.STATE) === BigInt(S.ERROR)) {
      const n = Number(Atomics.load(this.ctl, C.MSG_LEN));
      const text = Buffer.from(this.msg.subarray(0, n)).toString();
      const code = Number(Atomics.load(this.ctl, C.ERR_CODE));
      if (code === EXIT_USAGE || code === EXIT_IMAGE) this.fail(text, code);
      this.fail(text);
    }
  }

  /** Copy bytes into the ring, waiting for the worker to make room. */
  private put(b: Uint8Array): void {
    const size = this.ring.length;
    let at = 0;
    while (at < b.length) {
      const r = Atomics.load(this.ctl, C.R);
      const free = size - Number(this.w - r);
      if (free === 0) {
        this.check();
        if (Atomics.wait(this.ctl, C.R, r, STALL_MS) === 'timed-out' && Atomics.load(this.ctl, C.R) === r) this.fail(`it took nothing for ${STALL_MS / 1000} s`);
        continue;
      }
      const off = Number(this.w % BigInt(size));
      const n = Math.min(free, b.length - at, size - off);
      // Buffer#fill with a buffer as the value is one memcpy: TypedArray#set into shared memory
      // copies byte by byte unless source and target are equally aligned (2 GB/s, not 15+), and
      // the 5-byte frame heads leave the page data unaligned in the ring.
      this.ring.fill(b.subarray(at, at + n), off, off + n);
      at += n;
      this.w += BigInt(n);
      Atomics.store(this.ctl, C.W, this.w);
      Atomics.notify(this.ctl, C.W);
    }
  }

  send(type: number, payload: Uint8Array = new Uint8Array(0), payloadCrc?: number): void {
    this.check();
    const [head, tail] = frameParts(type, payload, payloadCrc);
    this.put(head);
    this.put(payload);
    this.put(tail);
  }

  /** DATA frames of at most MAX_DATA bytes. */
  sendData(b: Uint8Array): void {
    for (let at = 0; at < b.length; at += MAX_DATA) this.send(T.DATA, b.subarray(at, Math.min(b.length, at + MAX_DATA)));
  }

  awaitAck(timeoutMs = COMMIT_MS): void {
    this.acks++;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const got = Atomics.load(this.ctl, C.ACK);
      if (got >= this.acks) return;
      this.check();
      if (Date.now() > until) this.fail(`no confirmation within ${timeoutMs / 1000} s`);
      Atomics.wait(this.ctl, C.ACK, got, 200);
    }
  }

  /** The iteration's page-xfer. */
  open(iteration: number, faultPoint?: (name: string) => void): PageXfer {
    this.send(T.OPEN, u32(iteration));
    const sendImage = (kind: (typeof WIRE_KINDS)[number], data: Uint8Array) => {
      faultPoint?.(IMAGE_FILES[kind]);
      this.send(T.IMAGE_BEGIN, Buffer.from([WIRE_KINDS.indexOf(kind)]));
      this.sendData(data);
      this.send(T.IMAGE_END);
    };
    return {
      writePagemap: (entries, compression) => sendImage('pagemap', encodeImage('pagemap', compression === undefined ? { entries } : { entries, compression })),
      writePages: (bytes, chunks) => {
        faultPoint?.(IMAGE_FILES.pages);
        this.send(T.PAGES_BEGIN);
        let n = 0;
        let crc = 0;
        let middle = faultPoint !== undefined;
        for (const c of chunks) {
          // Each DATA payload is checksummed once: its crc serves the frame and pages.img's.
          for (let at = 0; at < c.length; at += MAX_DATA) {
            const piece = c.subarray(at, Math.min(c.length, at + MAX_DATA));
            const pc = crc32(piece);
            crc = crc32Combine(crc, pc, piece.length);
            this.send(T.DATA, piece, pc);
          }
          n += c.length;
          if (middle && n >= (bytes ?? 2) / 2) {
            middle = false;
            faultPoint!(`${IMAGE_FILES.pages}:middle`);
          }
        }
        if (bytes !== null && n !== bytes) throw new Error(`internal: sent ${n} page bytes, expected ${bytes}`);
        const end = Buffer.alloc(12);
        end.writeBigUInt64LE(BigInt(n), 0);
        end.writeUInt32LE(crc >>> 0, 8);
        this.send(T.PAGES_END, end);
        return n;
      },
      writeImage: (kind, value) => sendImage(kind, encodeImage(kind, value)),
      commit: () => {
        faultPoint?.('rename');
        this.send(T.COMMIT);
        this.awaitAck();
      },
      // The server drops an iteration whose connection goes away.
      abort: () => this.destroy(),
    };
  }

  /** After the final dump: say goodbye and let the worker flush and close. */
  close(): void {
    if (this.broken) return;
    this.send(T.BYE);
    Atomics.store(this.ctl, C.CLOSE, 1n);
    Atomics.notify(this.ctl, C.W);
    const until = Date.now() + CONNECT_MS;
    while (Atomics.load(this.ctl, C.STATE) === BigInt(S.CONNECTED) && Date.now() < until) Atomics.wait(this.ctl, C.STATE, BigInt(S.CONNECTED), 200);
    void this.worker.terminate();
  }

  destroy(): void {
    if (this.broken) return;
    this.broken = true;
    void this.worker.terminate();
  }
}
