/**
 * Yardsticks: minimal programs doing the same I/O as a tracker figure, with nothing of tracker in
 * them, timed in the same rounds (rounds.ts). A lone dd run is noise on this VM; a minimal Node
 * program writing the same bytes is what tracker can be held to.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { HEADER_BYTES } from '../criu/image.js';
import { timed } from './rounds.js';

/** node:zlib's CRC-32, which a minimal Node program would use (tracker's own is @node-rs/crc32). */
const crc32 = (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32;

/**
 * A minimal writer of pages.img: a blank header, the same pieces at the same offsets with CRC-32
 * computed on the way, the header with the CRC, fsync. Returns seconds; checks the CRC if given.
 */
export function nodeWriter(path: string, pieces: readonly Uint8Array[], expectCrc?: number): number {
  let crc = 0;
  const s = timed(() => {
    const fd = openSync(path, 'w');
    writeSync(fd, new Uint8Array(HEADER_BYTES));
    let off = HEADER_BYTES;
    for (const p of pieces) {
      crc = crc32(p, crc);
      for (let at = 0; at < p.length; ) at += writeSync(fd, p, at, p.length - at, off + at);
      off += p.length;
    }
    const h = Buffer.alloc(HEADER_BYTES);
    h.writeUInt32LE(crc >>> 0, 16);
    writeSync(fd, h, 0, HEADER_BYTES, 0);
    fsyncSync(fd);
    closeSync(fd);
  });
  if (expectCrc !== undefined && crc >>> 0 !== expectCrc) throw new Error('bench: the yardstick wrote other bytes than tracker');
  return s;
}

/** A minimal reader of pages.img into `buffers` (new ones when null: 2 MiB each, as frames come), CRC-32 checked. */
export function nodeReader(path: string, bytes: number, expectCrc: number, buffers: Uint8Array[] | null, chunk = 2 << 20): { s: number; buffers: Uint8Array[] } {
  const out: Uint8Array[] = buffers ?? [];
  const s = timed(() => {
    const fd = openSync(path, 'r');
    let crc = 0;
    let i = 0;
    for (let off = 0; off < bytes; off += chunk, i++) {
      const n = Math.min(chunk, bytes - off);
      if (buffers === null) out.push(new Uint8Array(n));
      const b = out[i];
      for (let got = 0; got < n; ) got += readSync(fd, b, got, n - got, HEADER_BYTES + off + got);
      crc = crc32(b, crc);
    }
    closeSync(fd);
    if (crc >>> 0 !== expectCrc) throw new Error('bench: the yardstick read other bytes than tracker wrote');
  });
  return { s, buffers: out };
}

/** dd writing `bytes` of zeros with conv=fsync. */
export function ddWrite(path: string, bytes: number): number {
  return timed(() => execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${Math.ceil(bytes / 1024 ** 2)}`, 'conv=fsync'], { stdio: 'ignore' }));
}

/** dd reading a file to /dev/null. */
export function ddRead(path: string): number {
  return timed(() => execFileSync('dd', [`if=${path}`, 'of=/dev/null', 'bs=1M'], { stdio: 'ignore' }));
}
