/**
 * A digest of a process's memory read through /proc/PID/mem, whose cost follows what is resident:
 * a strong hash (BLAKE3; SHA-256 in images of tracker before it) over the layout (runs of equal protection, so a restore whose VMAs merge differently
 * digests the same), the runs of pages that hold anything but zeros, and those pages' bytes.
 * Zero pages count the same whether they are mapped, the zero page or never touched, so a restore
 * that leaves them unpopulated digests like the dump. Stretches of anonymous memory no page table
 * covers are skipped without being read.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../mm/kernel.js';
import { lazyNative } from '../native.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { forEachPageRun } from './mem.js';
import { pagemapScanNext } from './pagemap-scan.js';

// Loaded at the first digest (a native module: ~10 ms and 3 MB).
const blakeHash = lazyNative<typeof import('@napi-rs/blake-hash')>('@napi-rs/blake-hash');

const ZERO = new Uint8Array(PAGE_SIZE);
const PMD_PAGES = 512;

/**
 * BLAKE3 (@napi-rs/blake-hash, the reference Rust implementation with its SIMD kernels, shipped
 * built in the registry's platform package) hashes ~4x faster than node:crypto's SHA-256 here, and
 * the digest is on the final dump's and the restore's critical path. Recorded as 'blake3:HEX';
 * a bare HEX digest is SHA-256, as images written before recorded it.
 */
export type DigestAlgo = 'blake3' | 'sha256';
export const DIGEST_ALGO: DigestAlgo = 'blake3';

/** The algorithm a recorded digest was made with. */
export function digestAlgoOf(recorded: string | null): DigestAlgo {
  return recorded === null || recorded.startsWith('blake3:') ? 'blake3' : 'sha256';
}

interface Hasher {
  update(data: Uint8Array): unknown;
  digestBuffer(): Buffer;
}

/** A Buffer view of the same bytes, no copy. */
export function asBuffer(d: Uint8Array): Buffer {
  return Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function hasher(algo: DigestAlgo): Hasher {
  if (algo === 'blake3') {
    // 1.3.4 (the last release with every platform package published) types update() as Buffer only.
    const h = new (blakeHash().Blake3Hasher)();
    return { update: (d) => h.update(asBuffer(d)), digestBuffer: () => h.digestBuffer() };
  }
  const h = createHash('sha256');
  return { update: (d) => h.update(d), digestBuffer: () => h.digest() };
}

export function memDigest(task: Task, algo: DigestAlgo = DIGEST_ALGO): string {
  const mm = task.mm;
  const layout: number[] = [];
  for (const vma of mm.vmas) {
    const n = layout.length;
    if (n > 0 && layout[n - 2] === vma.start && layout[n - 1] === (vma.flags & 0xf)) layout[n - 2] = vma.end;
    else layout.push(vma.start, vma.end, vma.flags & 0xf);
  }
  const data = hasher(algo);
  const runs = hasher(algo);
  const run = new Float64Array(2);
  let runStart = -1;
  let runLen = 0;
  const endRun = () => {
    if (runLen > 0) {
      run[0] = runStart;
      run[1] = runLen;
      runs.update(new Uint8Array(run.buffer));
    }
    runLen = 0;
  };
  // Pages [vpn, vpn + n): hash the non-zero ones, in spans as long as their arrays allow.
  const digestRange = (vpn: number, n: number) => {
    let at = vpn;
    forEachPageRun(mm, n, (i) => vpn + i, (arr, off, len) => {
      let spanFrom = -1;
      for (let p = 0; p < len; p += PAGE_SIZE, at++) {
        const zero = Buffer.compare(arr.subarray(off + p, off + p + PAGE_SIZE), ZERO) === 0;
        if (zero) {
          if (spanFrom >= 0) data.update(arr.subarray(off + spanFrom, off + p));
          spanFrom = -1;
          endRun();
          continue;
        }
        if (spanFrom < 0) spanFrom = p;
        if (runLen > 0 && runStart + runLen === at) runLen++;
        else {
          endRun();
          runStart = at;
          runLen = 1;
        }
      }
      if (spanFrom >= 0) data.update(arr.subarray(off + spanFrom, off + len));
    });
  };
  for (const vma of mm.vmas) {
    if (vma.file !== null) {
      // File and shmem pages live in the file too, whether the page tables map them or not.
      digestRange(vma.start, vma.end - vma.start);
      continue;
    }
    for (let at = pagemapScanNext(task, vma.start, vma.end); at < vma.end; at = pagemapScanNext(task, at, vma.end)) {
      const to = Math.min(vma.end, (Math.floor(at / PMD_PAGES) + 1) * PMD_PAGES);
      digestRange(at, to - at);
      at = to;
    }
  }
  endRun();
  const all = hasher(algo);
  all.update(new Uint8Array(new Float64Array(layout).buffer));
  all.update(runs.digestBuffer());
  all.update(data.digestBuffer());
  const hex = all.digestBuffer().toString('hex');
  return algo === 'sha256' ? hex : `${algo}:${hex}`;
}
