/**
 * Dedup (CRIU's --auto-dedup and `criu dedup`): when an iteration dumps a page that a parent also
 * holds, the parent's copy can never be read again (restore takes the nearest copy), so it is
 * released and its disk blocks come back.
 *
 * CRIU punches a hole (fallocate PUNCH_HOLE) in the parent's pages.img. Node has no fallocate, so
 * the parent's pages.img is written again as a sparse file under a temporary name (positional
 * writes skip the released pages, which read back as zeros), fsynced and renamed over the old one;
 * tracker wrote that file, so rewriting it is allowed. A compressed pages.img is written again with
 * the released pages zeroed in their regions (which then compress to almost nothing).
 *
 * The parent's pagemap records the released runs (PE_PRESENT | PE_RELEASED): they keep their
 * place in pages.img, so no offset changes, and page-read refuses a chain whose child would need
 * one. The pagemap is rewritten first: a crash between the two files leaves data that is marked
 * released but still there, which is harmless; the child is complete before any parent is touched.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { crc32, encodeHeader, encodeImage, HEADER_BYTES, IMAGE_FILES, IMAGE_MAGIC, readHeader, readImage, writePagesImage, fsyncDir, type ImageHeader } from './image.js';
import { CompressedCursor, readCompression, RegionCompressor, type PageCompression } from './page-compress.js';
import { openChain } from './page-read.js';
import { resolveIterationDir } from './stats.js';
import { ImageError } from '../errors.js';
import { PE_PRESENT, PE_RELEASED, type PagemapEntry, type PagemapImage } from './schema.js';

/** Runs of pages [start, end) in vpn order. */
type Runs = { start: Float64Array; end: Float64Array; length: number };

function presentRuns(entries: PagemapEntry[]): Runs {
  const start = new Float64Array(entries.length);
  const end = new Float64Array(entries.length);
  let n = 0;
  for (const e of entries) {
    if (e.flags !== PE_PRESENT) continue;
    if (n > 0 && end[n - 1] === e.vaddr) end[n - 1] += e.nr_pages;
    else {
      start[n] = e.vaddr;
      end[n] = e.vaddr + e.nr_pages;
      n++;
    }
  }
  return { start, end, length: n };
}

/**
 * The parent's entries with every page that `child` names present turned into a released run;
 * neighbouring runs of the same kind merged. Returns null when nothing changes.
 */
export function releaseEntries(parent: PagemapEntry[], child: Runs): { entries: PagemapEntry[]; released: number } | null {
  const out: PagemapEntry[] = [];
  const push = (vaddr: number, nr: number, flags: number) => {
    const last = out[out.length - 1];
    if (last !== undefined && last.flags === flags && last.vaddr + last.nr_pages === vaddr) last.nr_pages += nr;
    else out.push({ vaddr, nr_pages: nr, flags });
  };
  let released = 0;
  let j = 0;
  for (const e of parent) {
    if (e.flags !== PE_PRESENT) {
      push(e.vaddr, e.nr_pages, e.flags);
      continue;
    }
    let at = e.vaddr;
    const end = e.vaddr + e.nr_pages;
    while (j < child.length && child.end[j] <= at) j++;
    for (let k = j; k < child.length && child.start[k] < end && at < end; k++) {
      const lo = Math.max(at, child.start[k]);
      const hi = Math.min(end, child.end[k]);
      if (hi <= lo) continue;
      if (lo > at) push(at, lo - at, PE_PRESENT);
      push(lo, hi - lo, PE_PRESENT | PE_RELEASED);
      released += hi - lo;
      at = hi;
    }
    if (at < end) push(at, end - at, PE_PRESENT);
  }
  return released === 0 ? null : { entries: out, released };
}


const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * pages.img again, under a temporary name, with the released runs as holes: same size, same
 * offsets, new checksum. The old data is read whole and its checksum verified on the way.
 */
function rewriteSparse(dir: string, entries: PagemapEntry[]): string {
  const path = join(dir, IMAGE_FILES.pages);
  const tmp = join(dir, `.${IMAGE_FILES.pages}.dedup.tmp`);
  const src = openSync(path, 'r');
  let dst = -1;
  try {
    const head = pagesImageHeader(path);
    dst = openSync(tmp, 'w');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let oldCrc = 0;
    let crc = 0;
    let off = 0;
    for (const e of entries) {
      if ((e.flags & PE_PRESENT) === 0) continue;
      const len = e.nr_pages * PAGE_SIZE;
      const keep = (e.flags & PE_RELEASED) === 0;
      for (let d = 0; d < len; ) {
        const n = Math.min(buf.length, len - d);
        let got = 0;
        while (got < n) {
          const k = readSync(src, buf, got, n - got, HEADER_BYTES + off + d + got);
          if (k === 0) throw new ImageError(`${path}: shorter than its pagemap says; dedup left the chain as it was`);
          got += k;
        }
        oldCrc = crc32(buf.subarray(0, n), oldCrc);
        if (keep) {
          crc = crc32(buf.subarray(0, n), crc);
          writeSync(dst, buf, 0, n, HEADER_BYTES + off + d);
        } else crc = crc32(ZEROS.subarray(0, n), crc);
        d += n;
      }
      off += len;
    }
    if ((oldCrc >>> 0) !== head.crc || head.length !== BigInt(off)) throw new ImageError(`${path}: checksum mismatch; the image is corrupted, dedup left the chain as it was`);
    ftruncateSync(dst, HEADER_BYTES + off);
    writeSync(dst, encodeHeader('pages', off, crc), 0, HEADER_BYTES, 0);
    fsyncSync(dst);
  } catch (e) {
    if (dst >= 0) rmSync(tmp, { force: true });
    throw e;
  } finally {
    closeSync(src);
    if (dst >= 0) closeSync(dst);
  }
  return tmp;
}

/** The header of a pages.img dedup is about to rewrite (page-read checked the chain before). */
function pagesImageHeader(path: string): ImageHeader {
  const { header } = readHeader(path);
  if (header === null || header.magic !== IMAGE_MAGIC.pages) throw new ImageError(`${path}: not a pages image; dedup left the chain as it was`);
  return header;
}

/** A compressed pages.img again, under a temporary name, the released pages zeroed in their regions. */
function rewriteCompressed(dir: string, entries: PagemapEntry[], compression: PageCompression): string {
  const path = join(dir, IMAGE_FILES.pages);
  const tmp = join(dir, `.${IMAGE_FILES.pages}.dedup.tmp`);
  let raw = 0;
  for (const e of entries) if ((e.flags & PE_PRESENT) !== 0) raw += e.nr_pages * PAGE_SIZE;
  const stored = statSync(path).size - HEADER_BYTES;
  const head = pagesImageHeader(path);
  // Read front to back; finish() checks every frame and the checksum before the new file is used.
  const cursor = new CompressedCursor(path, stored, head.crc, raw, compression.region);
  try {
    function* stream(): Generator<Uint8Array> {
      let off = 0;
      for (const e of entries) {
        if ((e.flags & PE_PRESENT) === 0) continue;
        const len = e.nr_pages * PAGE_SIZE;
        if ((e.flags & PE_RELEASED) !== 0) {
          cursor.read(off, len, null);
          for (let d = 0; d < len; d += ZEROS.length) yield ZEROS.subarray(0, Math.min(ZEROS.length, len - d));
        } else {
          const pieces: Uint8Array[] = [];
          for (let d = 0; d < len; d += compression.region) {
            const n = Math.min(compression.region, len - d);
            cursor.read(off + d, n, (b) => pieces.push(Buffer.from(b)));
            yield* pieces;
            pieces.length = 0;
          }
        }
        off += len;
      }
      cursor.finish();
    }
    writePagesImage(tmp, new RegionCompressor(compression.region).frames(stream()), null);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof ImageError) throw new ImageError(`${e.message.replace(/\.$/, '')}, dedup left the chain as it was`);
    throw e;
  } finally {
    cursor.close();
  }
  return tmp;
}

export interface DedupReport {
  /** Per parent iteration directory touched: pages released there. */
  released: { dir: string; pages: number }[];
  pages_released: number;
}

function readPagemapImage(dir: string): PagemapImage {
  const pm = readImage<PagemapImage>(join(dir, IMAGE_FILES.pagemap), 'pagemap');
  if (pm === null || typeof pm !== 'object' || !Array.isArray(pm.entries)) throw new ImageError(`${dir}: pagemap image has no entries list`);
  return pm;
}

/** Union of two run lists. */
function unionRuns(a: Runs, b: Runs): Runs {
  const start = new Float64Array(a.length + b.length);
  const end = new Float64Array(a.length + b.length);
  let n = 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const takeA = j >= b.length || (i < a.length && a.start[i] <= b.start[j]);
    const s0 = takeA ? a.start[i] : b.start[j];
    const e0 = takeA ? a.end[i] : b.end[j];
    if (takeA) i++;
    else j++;
    if (n > 0 && s0 <= end[n - 1]) end[n - 1] = Math.max(end[n - 1], e0);
    else {
      start[n] = s0;
      end[n] = e0;
      n++;
    }
  }
  return { start, end, length: n };
}

/**
 * Release, in every parent of the iteration `dir`, the pages `dir` dumps (auto-dedup, once the
 * iteration is complete). The chain is walked through the inventories, as page-read walks it.
 */
export function dedupParents(dir: string): DedupReport {
  const chain = openChain(resolveIterationDir(dir)).links;
  const report: DedupReport = { released: [], pages_released: 0 };
  const child = presentRuns(readPagemapImage(chain[chain.length - 1].dir).entries);
  for (let k = chain.length - 2; k >= 0; k--) releaseIn(chain[k].dir, readPagemapImage(chain[k].dir), child, report);
  return report;
}

/**
 * `tracker dedup DIR/N`: the same for an existing chain: each parent keeps only the pages that no
 * later iteration dumps again. Each pages.img is rewritten at most once.
 */
export function dedupChain(dir: string): DedupReport {
  const chain = openChain(resolveIterationDir(dir)).links;
  const report: DedupReport = { released: [], pages_released: 0 };
  let later = presentRuns(readPagemapImage(chain[chain.length - 1].dir).entries);
  for (let k = chain.length - 2; k >= 0; k--) {
    const pm = readPagemapImage(chain[k].dir);
    const mine = presentRuns(pm.entries);
    releaseIn(chain[k].dir, pm, later, report);
    later = unionRuns(later, mine);
  }
  return report;
}

function releaseIn(dir: string, pm: PagemapImage, child: Runs, report: DedupReport): void {
  const r = releaseEntries(pm.entries, child);
  if (r === null) return;
  const compression = readCompression(dir, pm.compression);
  const image: PagemapImage = compression === null ? { entries: r.entries } : { entries: r.entries, compression };
  const pmTmp = join(dir, `.${IMAGE_FILES.pagemap}.dedup.tmp`);
  const fd = openSync(pmTmp, 'w');
  try {
    writeSync(fd, encodeImage('pagemap', image));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The old page data is checked before anything is released, so damage never gets a new checksum.
  let pagesTmp: string;
  try {
    pagesTmp = compression === null ? rewriteSparse(dir, r.entries) : rewriteCompressed(dir, r.entries, compression);
  } catch (e) {
    rmSync(pmTmp, { force: true });
    throw e;
  }
  // Pagemap first: a crash between the renames leaves pages marked released whose data is still there.
  renameSync(pmTmp, join(dir, IMAGE_FILES.pagemap));
  renameSync(pagesTmp, join(dir, IMAGE_FILES.pages));
  fsyncDir(dir);
  report.released.push({ dir, pages: r.released });
  report.pages_released += r.released;
}
