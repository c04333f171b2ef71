/**
 * Image files. Every file is a 24-byte header and a payload:
 *
 *   0  magic     u32   one per file kind (IMAGE_MAGIC)
 *   4  version   u32   IMAGE_VERSION
 *   8  length    u64   payload bytes
 *  16  crc32     u32   of the payload (CRC-32, zlib's)
 *  20  reserved  u32   0
 *
 * Payloads are msgpack, except pages.img whose payload is the raw page data, 4096 bytes per page,
 * in pagemap order, so page data pays no per-page encoding cost.
 */
import { closeSync, fdatasync, fstatSync, fsync, fsyncSync, openSync, readFileSync, readSync, writev as fsWritev, writeSync } from 'node:fs';
import { Packr } from 'msgpackr';
import { lazyNative } from '../native.js';
import { ImageError } from '../errors.js';

/** The format of a chain, recorded in inventory.img; each file's header carries its own kind's version. */
export const IMAGE_VERSION = 1;
export const HEADER_BYTES = 24;

export const IMAGE_MAGIC = {
  inventory: 0x54524b49, // 'TRKI'
  mm: 0x54524b4d, // 'TRKM'
  pagemap: 0x54524b50, // 'TRKP'
  pages: 0x54524b44, // 'TRKD'
  shmem: 0x54524b53, // 'TRKS'
  core: 0x54524b43, // 'TRKC'
  stats: 0x54524b54, // 'TRKT'
} as const;
export type ImageKind = keyof typeof IMAGE_MAGIC;

/**
 * The version each kind's header carries, and the versions this tracker reads. mm.img is at 2:
 * its VMAs carry the syscall arguments (prot, map_flags, madv) as CRIU's vma_entry; version 1
 * mm.img (vm_flags only) is still read, the arguments taken from its vm_flags.
 */
export const IMAGE_VERSIONS: Record<ImageKind, number> = { inventory: 1, mm: 2, pagemap: 1, pages: 1, shmem: 1, core: 1, stats: 1 };
const READS: Record<ImageKind, readonly number[]> = { inventory: [1], mm: [1, 2], pagemap: [1], pages: [1], shmem: [1], core: [1], stats: [1] };

/** File names inside an iteration directory. */
export const IMAGE_FILES: Record<ImageKind, string> = {
  inventory: 'inventory.img',
  mm: 'mm.img',
  pagemap: 'pagemap.img',
  pages: 'pages.img',
  shmem: 'shmem.img',
  core: 'core.img',
  stats: 'stats.img',
};

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * CRC-32 (zlib's polynomial, and its running value: crc32(B, crc32(A)) = crc32(A ‖ B)), by
 * @node-rs/crc32 (the crc32fast crate's PCLMULQDQ/ARMv8 folding, built per platform in its registry
 * package): 2-2.8x node:zlib's crc32 here, from single pages to 64 MiB pieces. Every byte
 * dumped, restored or served is checksummed, so it is on all of their critical paths.
 */
const crc32Native = lazyNative<typeof import('@node-rs/crc32')>('@node-rs/crc32');
export function crc32(data: Uint8Array, value = 0): number {
  return crc32Native().crc32(data, value);
}

const CRC_POLY = 0xedb88320;
/** a(x) * b(x) modulo the CRC-32 polynomial (bit-reflected, as zlib's multmodp). */
function multmodp(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = (b & 1) !== 0 ? (b >>> 1) ^ CRC_POLY : b >>> 1;
  }
  return p >>> 0;
}
/** x^(2^k) modulo the polynomial. */
const X2N = new Uint32Array(32);
X2N[0] = 1 << 30;
for (let k = 1; k < 32; k++) X2N[k] = multmodp(X2N[k - 1], X2N[k - 1]);

/**
 * crc32(A ‖ B) from crc32(A), crc32(B) and B's length (zlib's crc32_combine, which node:zlib does
 * not export): a checksum computed once can serve a frame and the whole file it goes into.
 */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  let p = 0x80000000; // x^0
  let n = lenB;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) p = multmodp(X2N[k & 31], p);
  return (multmodp(p, crcA >>> 0) ^ crcB) >>> 0;
}

/** The header of an image file as it is on disk, unchecked. */
export interface ImageHeader {
  magic: number;
  version: number;
  /** Payload bytes. */
  length: bigint;
  crc: number;
  reserved: number;
}

/** The one header writer. */
export function encodeHeader(kind: ImageKind, length: number, crc: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt32LE(IMAGE_MAGIC[kind], 0);
  b.writeUInt32LE(IMAGE_VERSIONS[kind], 4);
  b.writeBigUInt64LE(BigInt(length), 8);
  b.writeUInt32LE(crc >>> 0, 16);
  return b;
}

/** The one header reader: the fields of a HEADER_BYTES buffer. */
export function decodeHeader(b: Buffer): ImageHeader {
  return { magic: b.readUInt32LE(0), version: b.readUInt32LE(4), length: b.readBigUInt64LE(8), crc: b.readUInt32LE(16), reserved: b.readUInt32LE(20) };
}

/** The image kind a magic number names, or null. */
export function kindOfMagic(magic: number): ImageKind | null {
  return (Object.keys(IMAGE_MAGIC) as ImageKind[]).find((k) => IMAGE_MAGIC[k] === magic) ?? null;
}

/**
 * The header of the file at `path` without reading its payload, and the file's size: `header` is
 * null when the file is shorter than a header, `magic` null when shorter than one. An error
 * opening or reading the file is thrown as it comes (with its errno code).
 */
export function readHeader(path: string): { header: ImageHeader | null; magic: number | null; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const b = Buffer.alloc(HEADER_BYTES);
    let n = 0;
    while (n < HEADER_BYTES) {
      const k = readSync(fd, b, n, HEADER_BYTES - n, n);
      if (k === 0) break;
      n += k;
    }
    return { header: n === HEADER_BYTES ? decodeHeader(b) : null, magic: n >= 4 ? b.readUInt32LE(0) : null, size };
  } finally {
    closeSync(fd);
  }
}

/**
 * The checks every image header passes: present, this kind's magic, this version, a length that
 * is the file's payload, the reserved field zero. The checksum is the caller's (it needs the
 * payload).
 */
export function checkHeader(path: string, kind: ImageKind, h: ImageHeader | null, size: number): void {
  if (h === null) throw new ImageError(`${path}: truncated image (${size} bytes); the image is damaged, dump again`);
  if (h.magic !== IMAGE_MAGIC[kind]) throw new ImageError(`${path}: not a ${kind} image (bad magic 0x${h.magic.toString(16)})`);
  if (!READS[kind].includes(h.version)) throw new ImageError(`${path}: image version ${h.version}, this tracker reads version ${READS[kind].join(' or ')}`);
  if (h.length !== BigInt(size - HEADER_BYTES)) throw new ImageError(`${path}: payload is ${size - HEADER_BYTES} bytes, header says ${h.length}; the image is truncated or extended`);
  if (h.reserved !== 0) throw new ImageError(`${path}: reserved header field is not zero; the image is corrupted`);
}

export function encodeImage(kind: ImageKind, value: unknown): Buffer {
  const payload = packr.pack(value);
  return Buffer.concat([encodeHeader(kind, payload.length, crc32(payload)), payload]);
}

/** Stable chunks waiting for their CRC (a bound on what a scattered dump holds on to). */
const STABLE_PIECES = 4096;
/** Below this, the CRC is quicker than handing an fsync to another thread. */
const EARLY_FLUSH_BYTES = 16 << 20;
/** Page data arriving from a page server is flushed to disk in steps of this much. */
const FLUSH_EVERY = 64 << 20;

/**
 * pages.img being written, the one writer of it: by the dumper (write), by the page server as DATA
 * arrives (writeAsync), by dedup rewriting a compressed one (writePagesImage).
 */
export interface PagesWriter {
  /** Write a chunk now (its CRC computed here, or at finish() if `stable`). */
  write(chunk: Uint8Array, stable?: boolean): void;
  /**
   * Write chunks (one writev) at their place on libuv's thread pool, so receiving goes on
   * meanwhile; `done` is called once they are written (with an IoError if that failed: the
   * iteration is then removed). Their CRC comes separately (addCrc), from a checksum already made.
   */
  writeAsync(chunks: readonly Uint8Array[], done: (e: Error | null) => void): void;
  /** Account `length` bytes written with writeAsync whose crc32 is `crc`. */
  addCrc(crc: number, length: number): void;
  /** Bytes handed to writeAsync not yet written. */
  readonly inflight: number;
  /** Header and fsync (nothing may be in flight); returns the payload's length and CRC. */
  finish(): { bytes: number; crc: number };
  /** Close the file (once what is in flight is written). */
  close(): void;
}

/** How the writer's errors reach its caller: the local page-xfer turns an errno into the iteration's IoError. */
export interface PagesErrors {
  io<T>(f: () => T): T;
  error(e: Error): Error;
}

const DIRECT: PagesErrors = { io: (f) => f(), error: (e) => e };

/**
 * pages.img: a placeholder header, the chunks with their crc, then the real header and fsync.
 * Stable chunks are checksummed at the end instead, while the kernel flushes what was written
 * (an fsync on libuv's thread pool; the fsync that follows the header waits for it), so the
 * CRC costs no time of its own; at most STABLE_PIECES of them wait, older ones are checksummed
 * when that fills.
 */
export function openPagesImage(path: string, wrap: PagesErrors = DIRECT): PagesWriter {
  const io = wrap.io;
  const fd = io(() => openSync(path, 'w'));
  let crc = 0;
  let n = 0;
  const unsummed: Uint8Array[] = [];
  let unsummedBytes = 0;
  const sumPending = () => {
    for (const c of unsummed) crc = crc32(c, crc);
    unsummed.length = 0;
    unsummedBytes = 0;
  };
  /**
   * A write-back error is reported once per open file, and a background fsync of `fd` could take
   * it: a descriptor opened before the first one starts checks for one at finish().
   */
  let check = -1;
  const openCheck = () => {
    if (check < 0) check = openSync(path, 'r');
  };
  let open = true;
  let inflight = 0;
  let closeWhenIdle = false;
  /** writeAsync: bytes written since the last flush began, and whether one runs. */
  let unflushed = 0;
  let flushing = false;
  const close = () => {
    if (!open) return;
    closeWhenIdle = inflight > 0 || flushing;
    if (closeWhenIdle) return;
    closeSync(fd);
    if (check >= 0) closeSync(check);
    check = -1;
    open = false;
  };
  try {
    io(() => writeSync(fd, encodeHeader('pages', 0, 0)));
  } catch (e) {
    close();
    throw e;
  }
  return {
    write(c: Uint8Array, stable = false) {
      if (stable) {
        if (unsummed.length === STABLE_PIECES) sumPending();
        unsummed.push(c);
        unsummedBytes += c.length;
      } else {
        sumPending();
        crc = crc32(c, crc);
      }
      io(() => {
        let off = 0;
        while (off < c.length) off += writeSync(fd, c, off, c.length - off, HEADER_BYTES + n + off);
      });
      n += c.length;
    },
    writeAsync(cs: readonly Uint8Array[], done: (e: Error | null) => void) {
      let len = 0;
      for (const c of cs) len += c.length;
      const pos = HEADER_BYTES + n;
      n += len;
      inflight += len;
      const landed = (err: Error | null) => {
        inflight -= len;
        unflushed += len;
        // Flush as data comes rather than all at finish(): the disk works while the link does.
        if (err === null && open && !closeWhenIdle && !flushing && unflushed >= FLUSH_EVERY) {
          unflushed = 0;
          try {
            openCheck();
            flushing = true;
            fdatasync(fd, () => {
              flushing = false;
              if (inflight === 0 && closeWhenIdle) close();
            });
          } catch {
            // Only a head start for the fsync at finish().
          }
        }
        if (inflight === 0 && closeWhenIdle) close();
        done(err === null ? null : wrap.error(err));
      };
      // A short write (rare on a file) goes on with the rest, copied into one piece.
      const step = (bufs: readonly Uint8Array[], at: number, left: number) =>
        fsWritev(fd, bufs as Uint8Array[], at, (err, k) => {
          if (err !== null || k === left) return landed(err);
          const rest = Buffer.concat(bufs).subarray(k);
          step([rest], at + k, left - k);
        });
      step(cs, pos, len);
    },
    addCrc(pc: number, length: number) {
      sumPending();
      crc = crc32Combine(crc, pc, length);
    },
    get inflight() {
      return inflight;
    },
    finish() {
      if (inflight > 0) throw new Error('internal: pages.img finished with writes in flight');
      try {
        io(() => {
          if (unsummedBytes >= EARLY_FLUSH_BYTES) {
            openCheck();
            fsync(fd, () => undefined);
          }
          sumPending();
          writeSync(fd, encodeHeader('pages', n, crc), 0, undefined, 0);
          fsyncSync(fd);
          if (check >= 0) fsyncSync(check);
        });
      } finally {
        close();
      }
      return { bytes: n, crc: crc >>> 0 };
    },
    close,
  };
}

/** A whole pages.img from its chunks (`length` checked when known; null for compressed data); returns its length. */
export function writePagesImage(path: string, chunks: Iterable<Uint8Array>, length: number | null): number {
  const w = openPagesImage(path);
  try {
    let n = 0;
    for (const c of chunks) {
      w.write(c);
      n += c.length;
    }
    if (length !== null && n !== length) throw new Error(`internal: wrote ${n} page bytes, expected ${length}`);
    return w.finish().bytes;
  } finally {
    w.close();
  }
}

/** The payload of a whole image file, its header and checksum checked. */
function checkedPayload(path: string, kind: ImageKind, data: Buffer): Buffer {
  const h = data.length >= HEADER_BYTES ? decodeHeader(data) : null;
  checkHeader(path, kind, h, data.length);
  const payload = data.subarray(HEADER_BYTES);
  if ((crc32(payload) >>> 0) !== h!.crc) throw new ImageError(`${path}: checksum mismatch; the image is corrupted`);
  return payload;
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(`${path}: ${code === 'ENOENT' ? 'missing image file' : `cannot read (${code})`}`);
  }
}

export function readImage<T>(path: string, kind: ImageKind): T {
  const payload = checkedPayload(path, kind, readFile(path));
  try {
    return packr.unpack(payload) as T;
  } catch {
    throw new ImageError(`${path}: undecodable ${kind} image`);
  }
}

/** fsync a directory, so a rename or an unlink in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
