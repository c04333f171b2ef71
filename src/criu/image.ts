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
import { Packr } from 'msgpackr';
import * as zlib from 'node:zlib';
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

/**
 * The one pages.img writer: a placeholder header first, the chunks as they come with the crc
 * computed on the way, then the real header and fsync. The local page-xfer writes every pages.img
 * through it (a dump's, and a page server's as its chunks arrive); dedup's rewrite of a
 * compressed one through writeRawImage.
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
      writeSync(this.fd, encodeHeader(kind, 0, 0));
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  write(c: Uint8Array): void {
    this.crc = crc32(c, this.crc);
    let off = 0;
    while (off < c.length) off += writeSync(this.fd, c, off);
    this.length += c.length;
  }

  /** The crc32 of the payload so far. */
  get checksum(): number {
    return this.crc >>> 0;
  }

  finish(): number {
    writeSync(this.fd, encodeHeader(this.kind, this.length, this.crc), 0, HEADER_BYTES, 0);
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

/** A whole raw image from its chunks (`length` checked when known; null for compressed data); returns it. */
export function writeRawImage(path: string, kind: ImageKind, chunks: Iterable<Uint8Array>, length: number | null): number {
  const w = new RawImageWriter(path, kind);
  try {
    for (const c of chunks) w.write(c);
    if (length !== null && w.length !== length) throw new Error(`internal: wrote ${w.length} page bytes, expected ${length}`);
    return w.finish();
  } finally {
    w.abort();
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
