/**
 * Image files. Every file is a 24-byte header and a payload:
 *
 *   0  magic     u32   one per file kind (IMAGE_MAGIC)
 *   4  version   u32   IMAGE_VERSION
 *   8  length    u64   payload bytes
 *  16  crc32     u32   of the payload (zlib.crc32)
 *  20  reserved  u32   0
 *
 * Payloads are msgpack, except pages.img whose payload is the raw page data, 4096 bytes per page,
 * in pagemap order, so page data pays no per-page encoding cost.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { Packr } from 'msgpackr';
import * as zlib from 'node:zlib';
import { ImageError } from '../errors.js';

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

export const crc32: (data: Uint8Array, value?: number) => number = (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32;

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

function header(kind: ImageKind, length: number, crc: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt32LE(IMAGE_MAGIC[kind], 0);
  b.writeUInt32LE(IMAGE_VERSION, 4);
  b.writeBigUInt64LE(BigInt(length), 8);
  b.writeUInt32LE(crc >>> 0, 16);
  return b;
}

export function encodeImage(kind: ImageKind, value: unknown): Buffer {
  const payload = packr.pack(value);
  return Buffer.concat([header(kind, payload.length, crc32(payload)), payload]);
}

/**
 * A raw image (pages.img) written as its data comes: a blank header first, chunks as they are with
 * the crc computed on the way, then the header and fsync. Used whole by writeRawImage and piece by
 * piece by the page server, so both write the same bytes.
 */
export class RawImageWriter {
  private fd: number;
  private crc = 0;
  /** Payload bytes written so far. */
  length = 0;

  constructor(
    readonly path: string,
    readonly kind: ImageKind,
  ) {
    this.fd = openSync(path, 'w');
    try {
      writeSync(this.fd, Buffer.alloc(HEADER_BYTES));
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  write(c: Uint8Array): void {
    this.crc = crc32(c, this.crc);
    writeSync(this.fd, c);
    this.length += c.length;
  }

  /** The crc32 of the payload so far. */
  get checksum(): number {
    return this.crc >>> 0;
  }

  finish(): number {
    writeSync(this.fd, header(this.kind, this.length, this.crc), 0, HEADER_BYTES, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    return this.length;
  }

  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Write raw page data: chunks are written as they are, the crc computed on the way. `length` is
 * checked when known (null for compressed data, whose size is known once written); returns it.
 */
export function writeRawImage(path: string, kind: ImageKind, chunks: Iterable<Uint8Array>, length: number | null, faultPoint?: (name: string) => void, middleAt = length ?? 0): number {
  const w = new RawImageWriter(path, kind);
  try {
    writeChunks(chunks, (c) => w.write(c), faultPoint === undefined ? undefined : () => faultPoint(`${basename(path)}:middle`), middleAt);
    if (length !== null && w.length !== length) throw new Error(`internal: wrote ${w.length} page bytes, expected ${length}`);
    return w.finish();
  } finally {
    w.abort();
  }
}

/** Hand chunks to `write`, calling `middle` once half of `middleAt` bytes have gone. */
export function writeChunks(chunks: Iterable<Uint8Array>, write: (c: Uint8Array) => void, middle?: () => void, middleAt = 0): number {
  let n = 0;
  let armed = middle !== undefined && middleAt > 0;
  for (const c of chunks) {
    write(c);
    n += c.length;
    if (armed && n >= middleAt / 2) {
      armed = false;
      middle!();
    }
  }
  return n;
}

/** The header of pages.img, whose payload is written after it (as a placeholder first, then for real). */
export function pagesHeader(length: number, crc: number): Buffer {
  return header('pages', length, crc);
}

function checkHeader(path: string, kind: ImageKind, data: Buffer): Buffer {
  if (data.length < HEADER_BYTES) throw new ImageError(`${path}: truncated image (${data.length} bytes); the image is damaged, dump again`);
  const magic = data.readUInt32LE(0);
  if (magic !== IMAGE_MAGIC[kind]) throw new ImageError(`${path}: not a ${kind} image (bad magic 0x${magic.toString(16)})`);
  const version = data.readUInt32LE(4);
  if (version !== IMAGE_VERSION) throw new ImageError(`${path}: image version ${version}, this tracker reads version ${IMAGE_VERSION}`);
  const length = data.readBigUInt64LE(8);
  if (length !== BigInt(data.length - HEADER_BYTES)) throw new ImageError(`${path}: payload is ${data.length - HEADER_BYTES} bytes, header says ${length}; the image is truncated or extended`);
  if (data.readUInt32LE(20) !== 0) throw new ImageError(`${path}: reserved header field is not zero; the image is corrupted`);
  const payload = data.subarray(HEADER_BYTES);
  if ((crc32(payload) >>> 0) !== data.readUInt32LE(16)) throw new ImageError(`${path}: checksum mismatch; the image is corrupted`);
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
  const payload = checkHeader(path, kind, readFile(path));
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
