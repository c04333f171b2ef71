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
import { readFileSync } from 'node:fs';
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


