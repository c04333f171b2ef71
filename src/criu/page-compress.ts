/**
 * Compressed page data (`--compress`): pages.img holds the raw page stream cut into regions of
 * `--compress-region` bytes (the last one shorter), each stored as a frame:
 *
 *   0  stored  u32   bytes that follow
 *   4  data          stored === raw length of the region: the raw bytes (incompressible region);
 *                    stored < raw length: an LZ4 block with its u32 raw length in front
 *
 * The pagemap records the codec and the region size (PagemapImage.compression); the raw length is
 * what its PE_PRESENT entries name, so every frame's raw length is known before it is read and
 * nothing is allocated from a length in the file that was not bounded first.
 *
 * LZ4 (lz4-napi: lz4_flex behind Node-API, prebuilt per platform inside the npm packages) was
 * picked over zstd (better ratio, but zstd-napi compiles C at install time) and node:zlib's
 * deflate/brotli (slower for less) by the measurements in the README.
 */
import { ImageError, UsageError } from '../errors.js';
import { lazyNative } from '../native.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { crc32, HEADER_BYTES } from './image.js';
import type { PageXfer } from './page-xfer.js';
import type { IterationStats, PageCompression } from './schema.js';

// Loaded when pages are first compressed or decoded (native: ~7 ms, 4.5 MB).
const lz4Napi = lazyNative<typeof import('lz4-napi')>('lz4-napi');

export const DEFAULT_COMPRESS_REGION = 256 * 1024;
/** A frame is read through RawImage's 1 MiB window. */
export const MAX_COMPRESS_REGION = 1024 * 1024;

export type { PageCompression };

export function checkRegionSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < PAGE_SIZE || bytes > MAX_COMPRESS_REGION || bytes % PAGE_SIZE !== 0)
    throw new UsageError(`--compress-region must be a multiple of 4K between 4K and 1M, got ${bytes}`);
  return bytes;
}

/** Validate the `compression` field of a pagemap image (undefined/null: page data is raw). */
export function readCompression(dir: string, value: unknown): PageCompression | null {
  if (value === undefined || value === null) return null;
  const c = value as PageCompression;
  if (typeof c !== 'object' || c.codec !== 'lz4' || !Number.isSafeInteger(c.region) || c.region < PAGE_SIZE || c.region > MAX_COMPRESS_REGION || c.region % PAGE_SIZE !== 0)
    throw new ImageError(`${dir}: pagemap names an unknown page compression; this tracker reads lz4 with regions of 4K..1M`);
  return { codec: 'lz4', region: c.region };
}

/**
 * Compress a raw page stream into frames as it goes: at most one region is buffered. `stored`
 * counts the frame bytes produced so far (what pages.img holds and what crosses a link).
 */
export class RegionCompressor {
  private readonly buf: Buffer;
  private fill = 0;
  stored = 0;
  raw = 0;

  constructor(readonly region: number) {
    this.buf = Buffer.allocUnsafe(region);
  }

  /** The frames of a whole stream. */
  *frames(chunks: Iterable<Uint8Array>): Generator<Uint8Array> {
    for (const c of chunks) yield* this.push(c);
    yield* this.finish();
  }

  *push(chunk: Uint8Array): Generator<Uint8Array> {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.region - this.fill, chunk.length - at);
      this.buf.set(chunk.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === this.region) yield* this.flush();
    }
  }

  *finish(): Generator<Uint8Array> {
    if (this.fill > 0) yield* this.flush();
  }

  private *flush(): Generator<Uint8Array> {
    const raw = this.buf.subarray(0, this.fill);
    const packed = lz4Napi().compressSync(raw);
    const data = packed.length < raw.length ? packed : raw;
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(data.length, 0);
    this.stored += 4 + data.length;
    this.raw += raw.length;
    this.fill = 0;
    yield head;
    yield data;
  }
}

/** Bytes of a whole raw stream once compressed (for what-would-cross-the-link figures). */
export function compressedSize(chunks: Iterable<Uint8Array>, region = DEFAULT_COMPRESS_REGION): number {
  const c = new RegionCompressor(region);
  for (const _ of c.frames(chunks)) void _;
  return c.stored;
}

/** Decode one frame's data (`stored` bytes) into exactly `rawLength` bytes. */
export function decodeFrame(where: string, data: Uint8Array, rawLength: number): Buffer {
  if (data.length === rawLength) return Buffer.from(data.buffer, data.byteOffset, data.length);
  if (data.length < 4 || data.length > rawLength) throw new ImageError(`${where}: compressed region of ${data.length} bytes for ${rawLength} raw bytes; the image is corrupted`);
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (view.readUInt32LE(0) !== rawLength) throw new ImageError(`${where}: compressed region says ${view.readUInt32LE(0)} raw bytes, the pagemap ${rawLength}; the image is corrupted`);
  let out: Buffer;
  try {
    out = lz4Napi().uncompressSync(view);
  } catch {
    throw new ImageError(`${where}: compressed region does not decode; the image is corrupted`);
  }
  if (out.length !== rawLength) throw new ImageError(`${where}: compressed region decodes to ${out.length} bytes, expected ${rawLength}`);
  return out;
}

/**
 * The compression layer of page-xfer (--compress): the pagemap says how, the page data goes out
 * as frames, and the stats image records the bytes stored (what crossed the link).
 */
export function compressingXfer(inner: PageXfer, region: number): PageXfer {
  let stored: number | undefined;
  return {
    writePagemap: (entries) => inner.writePagemap(entries, { codec: 'lz4', region }),
    writePages: (_bytes, chunks) => {
      stored = inner.writePages(null, new RegionCompressor(region).frames(chunks));
      return stored;
    },
    writeImage: (kind, value) => {
      // Set on the dumper's own stats object, so its report shows it too.
      if (kind === 'stats' && stored !== undefined) (value as IterationStats).bytes_stored = stored;
      inner.writeImage(kind, value);
    },
    commit: () => inner.commit(),
    abort: () => inner.abort(),
  };
}

/**
 * page-read's cursor over a compressed pages.img: frames read front to back, every stored byte
 * checksummed, a region decoded only when a page of it is asked for. Same calls as the raw cursor.
 */
export class CompressedCursor {
  private fd = -1;
  /** Stored bytes consumed, and the frames walked so far. */
  private filePos = 0;
  private frames = 0;
  private crc = 0;
  /** The frame last read: its raw start and its data (decoded when needed). */
  private rawStart = -1;
  private rawLen = 0;
  private buf: Buffer = Buffer.alloc(0);
  private data: Buffer = Buffer.alloc(0);
  private decoded: Buffer | null = null;
  private readonly head = Buffer.alloc(4);
  private readonly nFrames: number;

  constructor(
    private readonly path: string,
    private readonly storedBytes: number,
    private readonly storedCrc: number,
    private readonly rawBytes: number,
    private readonly region: number,
  ) {
    this.nFrames = Math.ceil(rawBytes / region);
  }

  read(offset: number, len: number, sink: ((data: Uint8Array) => void) | null): void {
    let at = offset;
    const end = offset + len;
    while (at < end) {
      while (at >= this.rawStart + this.rawLen || this.rawStart < 0) this.nextFrame();
      if (at < this.rawStart) throw new Error(`internal: page-read cursor moved back in ${this.path}`);
      const to = Math.min(end, this.rawStart + this.rawLen);
      if (sink !== null) {
        this.decoded ??= decodeFrame(`${this.path} region ${this.frames - 1}`, this.data, this.rawLen);
        sink(this.decoded.subarray(at - this.rawStart, to - this.rawStart));
      }
      at = to;
    }
  }

  /** The bytes at offset (at or after what was read), decoded into `dest`. */
  readInto(offset: number, dest: Uint8Array): void {
    let at = 0;
    this.read(offset, dest.length, (piece) => {
      dest.set(piece, at);
      at += piece.length;
    });
  }

  finish(): void {
    while (this.frames < this.nFrames) this.nextFrame();
    if (this.filePos !== this.storedBytes) throw new ImageError(`${this.path}: compressed regions end at byte ${this.filePos} of ${this.storedBytes}; the image does not match its pagemap`);
    if ((this.crc >>> 0) !== this.storedCrc) throw new ImageError(`${this.path}: checksum mismatch; the image is corrupted`);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private readExact(buf: Buffer, n: number): void {
    if (this.filePos + n > this.storedBytes) throw new ImageError(`${this.path}: ${this.frames} of ${this.nFrames} compressed regions present; the image is truncated`);
    if (this.fd < 0) {
      try {
        this.fd = openSync(this.path, 'r');
      } catch (e) {
        throw new ImageError(`${this.path}: cannot read (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, buf, got, n - got, HEADER_BYTES + this.filePos + got);
      if (k === 0) throw new ImageError(`${this.path}: image shrank while being read`);
      got += k;
    }
    this.crc = crc32(buf.subarray(0, n), this.crc);
    this.filePos += n;
  }

  private nextFrame(): void {
    if (this.frames >= this.nFrames) throw new ImageError(`${this.path}: page data asked for past the last compressed region`);
    const raw = Math.min(this.region, this.rawBytes - this.frames * this.region);
    this.readExact(this.head, 4);
    const stored = this.head.readUInt32LE(0);
    if (stored > raw) throw new ImageError(`${this.path}: compressed region ${this.frames} is ${stored} bytes, larger than its ${raw} raw bytes; the image is corrupted`);
    if (this.buf.length < stored) this.buf = Buffer.allocUnsafe(this.region);
    this.readExact(this.buf, stored);
    this.data = this.buf.subarray(0, stored);
    this.rawStart = this.frames * this.region;
    this.rawLen = raw;
    this.decoded = stored === raw ? this.data : null;
    this.frames++;
  }
}
