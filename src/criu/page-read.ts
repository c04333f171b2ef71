/**
 * CRIU's page_read (criu/pagemap.c): the one reader of image chains. `openChain` follows the
 * parent references from DIR/N back to the first iteration and validates every small image of
 * every iteration (and the final dump's mm, shmem and core), every parent reference (relative,
 * inside the images root even through symlinks, consecutive, no loops), interrupted iterations,
 * page data sizes against the pagemaps, and that every in-parent range of every iteration is
 * held by some ancestor. A `PageRead` then serves the final iteration's pages: in-parent runs
 * are followed to the parent with a cursor per iteration, each pages.img is read once,
 * front to back, and every byte of it is checksummed. `tracker check`, restore, show, stats and
 * compare all read chains through here, so none of them accepts a chain another refuses.
 */
import { closeSync, existsSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ImageError } from '../errors.js';
import { isKernelProfileName, type KernelProfileName } from '../mm/kernel-profile.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import type { MadviseAdvice } from '../task/syscalls.js';
import { MADV_BITS } from './vma-entry.js';
import { checkHeader, crc32, HEADER_BYTES, IMAGE_FILES, readHeader, type ImageKind } from './image.js';
import { readCoreFile, readInventoryFile, readMmFile, readPagemapImageFile, readShmemFile, readStatsFile } from './image-decode.js';
import { CompressedCursor, type PageCompression } from './page-compress.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type CoreImage, type InventoryEntry, type IterationStats, type MmEntry, type PagemapEntry, type ShmemImage } from './schema.js';

const RELEASED = PE_PRESENT | PE_RELEASED;

/** A longer chain is a loop or a damaged images root. */
const MAX_CHAIN = 10_000;

export const IMAGE_KINDS = Object.keys(IMAGE_FILES) as ImageKind[];

/** Bytes of each image file of an iteration; null when it has none of that kind (pre-dumps). */
export type FileSizes = Record<ImageKind, number | null>;

export interface ChainLink {
  /** Real path of the iteration directory. */
  dir: string;
  inventory: InventoryEntry;
  stats: IterationStats;
  entries: PagemapEntry[];
  /** Offset in pages.img of each entry's data (-1 for in-parent entries). */
  offsets: number[];
  /** Page data bytes pages.img holds, and the checksum its header records. */
  pagesBytes: number;
  pagesCrc: number;
  /** How pages.img is compressed (null: raw), and the raw page bytes its pagemap names. */
  compression: PageCompression | null;
  rawBytes: number;
  files: FileSizes;
}

export interface Chain {
  /** Real path of the images root holding the iterations. */
  root: string;
  /** Oldest first; the last is the iteration asked for. */
  links: ChainLink[];
  /** The final dump's images (null for a chain ending in a pre-dump). */
  dump: { mm: MmEntry; shmem: ShmemImage; core: CoreImage } | null;
}

function fileSizes(dir: string): FileSizes {
  const out = {} as FileSizes;
  for (const k of IMAGE_KINDS) {
    const p = join(dir, IMAGE_FILES[k]);
    out[k] = existsSync(p) ? statSync(p).size : null;
  }
  return out;
}

/** The header of pages.img: its length agrees with the file and the pagemap; the checksum is kept for the stream. */
function pagesHeader(path: string, wantBytes: number | null): { bytes: number; crc: number } {
  let h: ReturnType<typeof readHeader>;
  try {
    h = readHeader(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(`${path}: ${code === 'ENOENT' ? 'missing image file' : `cannot read (${code})`}`);
  }
  const { header, size } = h;
  checkHeader(path, 'pages', header, size);
  const bytes = size - HEADER_BYTES;
  if (wantBytes !== null && bytes !== wantBytes) throw new ImageError(`${dirname(path)}: pages.img holds ${bytes / PAGE_SIZE} pages, pagemap names ${wantBytes / PAGE_SIZE}`);
  return { bytes, crc: header!.crc };
}

function openLink(dir: string): ChainLink {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImageError(`${dir}: no such image directory`);
  const inventory = readInventoryFile(join(dir, IMAGE_FILES.inventory));
  const { entries, compression } = readPagemapImageFile(join(dir, IMAGE_FILES.pagemap));
  const stats = readStatsFile(join(dir, IMAGE_FILES.stats));
  const offsets: number[] = [];
  let off = 0;
  for (const e of entries) {
    // Runs released by dedup keep their place in pages.img.
    const data = (e.flags & PE_PRESENT) !== 0;
    offsets.push(data ? off : -1);
    if (data) off += e.nr_pages * PAGE_SIZE;
  }
  // Compressed frames are checked against the pagemap as they are read.
  const h = pagesHeader(join(dir, IMAGE_FILES.pages), compression === null ? off : null);
  return { dir, inventory, stats, entries, offsets, pagesBytes: h.bytes, pagesCrc: h.crc, compression, rawBytes: off, files: fileSizes(dir) };
}

/** pages.img on its own: its header, and its checksum over the whole payload, streamed. */
export function checkPagesFile(path: string): { bytes: number; crc: number } {
  const h = pagesHeader(path, null);
  const c = new PagesCursor(path, h.bytes, h.crc);
  try {
    c.finish();
  } finally {
    c.close();
  }
  return h;
}

/** A direct child of the images root (an iteration directory), nothing above or beside it. */
function insideRoot(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !rel.includes(sep);
}

/** The temporary directory an interrupted dump of iteration directory `dir` left, or null. */
export function interruptedTmp(dir: string): string | null {
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp`);
  return existsSync(tmp) ? tmp : null;
}

/** Open DIR/N and its parents, validating everything but the page data's checksums (PageRead streams those). */
export function openChain(finalDir: string): Chain {
  const start = resolve(finalDir);
  if (!existsSync(start)) {
    const tmp = interruptedTmp(start);
    if (tmp !== null) throw new ImageError(`${finalDir}: this iteration was interrupted while being written (${tmp} is left); dump again`);
    throw new ImageError(`${finalDir}: no such image directory`);
  }
  const root = realpathSync(dirname(start));
  const links: ChainLink[] = [];
  const seen = new Set<string>();
  let dir: string | null = realpathSync(start);
  if (!insideRoot(root, dir)) throw new ImageError(`${start}: resolves to ${dir}, outside the images directory ${root}`);
  while (dir !== null) {
    if (seen.has(dir)) throw new ImageError(`${dir}: parent chain loops back to itself`);
    if (seen.size >= MAX_CHAIN) throw new ImageError(`${finalDir}: parent chain longer than ${MAX_CHAIN}`);
    seen.add(dir);
    const link = openLink(dir);
    links.unshift(link);
    const parent = link.inventory.parent;
    if (parent === null) break;
    if (parent.startsWith('/')) throw new ImageError(`${dir}: parent reference must be relative`);
    const p = resolve(dir, parent);
    if (!insideRoot(root, p)) throw new ImageError(`${dir}: parent ${parent} points outside the images directory ${root}`);
    if (!existsSync(p)) {
      const tmp = interruptedTmp(p);
      if (tmp !== null) throw new ImageError(`${dir}: parent ${parent} was interrupted while being written (${tmp} is left); the chain is broken`);
      throw new ImageError(`${dir}: parent ${parent} is missing; the chain is broken`);
    }
    dir = realpathSync(p);
    // Checked again after symlinks are resolved: a link must not lead out of the root either.
    if (!insideRoot(root, dir)) throw new ImageError(`${p}: resolves to ${dir}, outside the images directory ${root}`);
  }
  for (let i = 1; i < links.length; i++) {
    if (links[i].inventory.iteration !== links[i - 1].inventory.iteration + 1) throw new ImageError(`${links[i].dir}: parent is iteration ${links[i - 1].inventory.iteration}, expected ${links[i].inventory.iteration - 1}`);
  }
  if (links[0].inventory.parent === null && links[0].entries.some((e) => e.flags === PE_PARENT)) throw new ImageError(`${links[0].dir}: pagemap has in-parent entries but the iteration has no parent`);
  for (let i = 1; i < links.length; i++) checkInParent(links, i);
  const last = links[links.length - 1];
  let dump: Chain['dump'] = null;
  if (last.inventory.type === 'dump') {
    const mm = readMmFile(join(last.dir, IMAGE_FILES.mm));
    const shmem = readShmemFile(join(last.dir, IMAGE_FILES.shmem), mm);
    const core = readCoreFile(join(last.dir, IMAGE_FILES.core));
    dump = { mm, shmem, core };
  }
  return { root, links, dump };
}

/** Index of the entry of `es` holding vpn, or -1. */
function findEntry(es: readonly PagemapEntry[], vpn: number): number {
  let lo = 0;
  let hi = es.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (vpn < es[mid].vaddr) hi = mid - 1;
    else if (vpn >= es[mid].vaddr + es[mid].nr_pages) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Pages [from, to) are dumped again (present, or released in turn) by some link after link i. */
function redumpedAfter(links: ChainLink[], i: number, from: number, to: number): boolean {
  for (let pos = from; pos < to; ) {
    let best = pos;
    for (let j = i + 1; j < links.length; j++) {
      const x = findEntry(links[j].entries, pos);
      if (x < 0) continue;
      const e = links[j].entries[x];
      if ((e.flags & PE_PRESENT) !== 0) best = Math.max(best, Math.min(to, e.vaddr + e.nr_pages));
    }
    if (best === pos) return false;
    pos = best;
  }
  return true;
}

/**
 * Every in-parent range of link i is held by some ancestor: walked with one cursor per ancestor,
 * so the cost is the number of entries, never the number of pages.
 */
function checkInParent(links: ChainLink[], i: number): void {
  const cursors = new Array<number>(i).fill(0);
  /** Set when a range fails on a page that dedup released (a child must never need one). */
  let released: string | null = null;
  const held = (k: number, from: number, to: number): boolean => {
    if (k < 0) return false;
    const es = links[k].entries;
    let c = cursors[k];
    while (c < es.length && es[c].vaddr + es[c].nr_pages <= from) c++;
    cursors[k] = c;
    let at = from;
    for (let j = c; at < to; j++) {
      const e = es[j];
      if (e === undefined || e.vaddr > at) return false;
      const end = Math.min(to, e.vaddr + e.nr_pages);
      if (e.flags === RELEASED) {
        // Released because a later iteration dumped these pages again: this one is superseded there.
        if (!redumpedAfter(links, i, at, end)) {
          released = links[k].dir;
          return false;
        }
        at = end;
        continue;
      }
      if (e.flags !== PE_PRESENT && !held(k - 1, at, end)) return false;
      at = end;
    }
    return true;
  };
  for (const e of links[i].entries) {
    if (e.flags !== PE_PARENT) continue;
    if (!held(i - 1, e.vaddr, e.vaddr + e.nr_pages)) {
      let from = e.vaddr;
      // Name the first page no ancestor holds.
      cursors.fill(0);
      while (from < e.vaddr + e.nr_pages && held(i - 1, from, from + 1)) from++;
      if (released !== null)
        throw new ImageError(`${released}: page 0x${(from * PAGE_SIZE).toString(16)} was released by --auto-dedup, but ${links[i].dir} needs it: after dedup a chain restores only from its last iteration (if ${links[i].dir} is the last, the chain was deduplicated wrongly)`);
      throw new ImageError(`${links[i].dir}: page 0x${(from * PAGE_SIZE).toString(16)} is marked in-parent but no parent image holds it`);
    }
  }
}

const WINDOW_BYTES = 4 * 1024 * 1024;
/** Target views smaller than this on average are filled from the window rather than read into. */
const SCATTER_BYTES = 64 * 1024;
/** Pages a target is asked for at once (one pte table's span, 2 MiB). */
const TARGET_PAGES = 512;

/** pages.img read front to back through one window, every byte checksummed on the way. */
class PagesCursor {
  private fd = -1;
  /** Payload bytes consumed so far. */
  private pos = 0;
  private crc = 0;
  private window: Buffer | null = null;

  constructor(
    private readonly path: string,
    private readonly bytes: number,
    private readonly headerCrc: number,
  ) {}

  /** Hand `sink` the bytes [offset, offset + len) (offset at or after what was read), in pieces. */
  read(offset: number, len: number, sink: ((data: Uint8Array) => void) | null): void {
    if (offset < this.pos) throw new Error(`internal: page-read cursor moved back in ${this.path}`);
    this.pump(offset - this.pos, null);
    this.pump(len, sink);
  }

  /** Read the bytes at offset (at or after what was read) straight into `dest`. */
  readInto(offset: number, dest: Uint8Array): void {
    if (offset < this.pos) throw new Error(`internal: page-read cursor moved back in ${this.path}`);
    this.pump(offset - this.pos, null);
    this.open();
    let got = 0;
    while (got < dest.length) {
      const k = readSync(this.fd, dest, got, dest.length - got, HEADER_BYTES + this.pos + got);
      if (k === 0) throw new ImageError(`${this.path}: image shrank while being read`);
      got += k;
    }
    this.crc = crc32(dest, this.crc);
    this.pos += dest.length;
  }

  /** Read the rest and compare the checksum with the header. */
  finish(): void {
    this.pump(this.bytes - this.pos, null);
    if ((this.crc >>> 0) !== this.headerCrc) throw new ImageError(`${this.path}: checksum mismatch; the image is corrupted`);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private open(): void {
    if (this.fd >= 0) return;
    try {
      this.fd = openSync(this.path, 'r');
    } catch (e) {
      throw new ImageError(`${this.path}: cannot read (${(e as NodeJS.ErrnoException).code})`);
    }
  }

  private pump(n: number, sink: ((data: Uint8Array) => void) | null): void {
    if (n <= 0) return;
    this.open();
    this.window ??= Buffer.allocUnsafe(Math.min(WINDOW_BYTES, Math.max(PAGE_SIZE, this.bytes)));
    const w = this.window;
    while (n > 0) {
      const want = Math.min(n, w.length);
      let got = 0;
      while (got < want) {
        const k = readSync(this.fd, w, got, want - got, HEADER_BYTES + this.pos + got);
        if (k === 0) throw new ImageError(`${this.path}: image shrank while being read`);
        got += k;
      }
      const piece = w.subarray(0, want);
      this.crc = crc32(piece, this.crc);
      sink?.(piece);
      this.pos += want;
      n -= want;
    }
  }
}

/** Receives page data: pages from vpn on, `data.length / PAGE_SIZE` of them, held by link `link`. */
export type PageSink = (vpn: number, data: Uint8Array, link: number) => void;
/**
 * Where pages [vpn, vpn + n) go, as views covering them in order: page data is then read straight
 * into them (as CRIU's restorer preadv()s into the memory it restores), with no copy in between.
 */
export type PageTarget = (vpn: number, n: number) => Uint8Array[];

export class PageRead {
  private readonly cursors: (PagesCursor | CompressedCursor)[];
  /** Per link, the first entry a request may still touch. */
  private readonly entryAt: number[];

  constructor(private readonly chain: Chain) {
    this.cursors = chain.links.map((l) =>
      l.compression === null
        ? new PagesCursor(join(l.dir, IMAGE_FILES.pages), l.pagesBytes, l.pagesCrc)
        : new CompressedCursor(join(l.dir, IMAGE_FILES.pages), l.pagesBytes, l.pagesCrc, l.rawBytes, l.compression.region),
    );
    this.entryAt = chain.links.map(() => 0);
  }

  /**
   * Serve every page the final iteration's pagemap names, in address order, following in-parent
   * entries down the chain; then checksum the rest of every pages.img. Always closes the files.
   */
  readAll(sink: PageSink | null, target: PageTarget | null = null): void {
    try {
      const k = this.chain.links.length - 1;
      // Runs released by dedup hold no data to serve (checkInParent sees that no child needs them).
      for (const e of this.chain.links[k].entries) if (e.flags !== RELEASED) this.serve(k, e.vaddr, e.nr_pages, sink, target);
      for (const c of this.cursors) c.finish();
    } finally {
      for (const c of this.cursors) c.close();
    }
  }

  /** Pages [vpn, vpn + n) from link k; requests to a link come in address order. */
  private serve(k: number, vpn: number, n: number, sink: PageSink | null, target: PageTarget | null): void {
    const link = this.chain.links[k];
    const es = link.entries;
    let i = this.entryAt[k];
    while (i < es.length && es[i].vaddr + es[i].nr_pages <= vpn) i++;
    this.entryAt[k] = i;
    const end = vpn + n;
    for (let at = vpn; at < end; i++) {
      const e = es[i];
      // openChain has checked that ancestors hold every in-parent range.
      if (e === undefined || e.vaddr > at) throw new Error(`internal: page 0x${(at * PAGE_SIZE).toString(16)} not found in ${link.dir}`);
      const to = Math.min(end, e.vaddr + e.nr_pages);
      const offset = link.offsets[i] + (at - e.vaddr) * PAGE_SIZE;
      if (e.flags === RELEASED) throw new ImageError(`${link.dir}: page 0x${(at * PAGE_SIZE).toString(16)} was released by dedup but is asked for`);
      if (e.flags !== PE_PRESENT) this.serve(k - 1, at, to - at, sink, target);
      else if (target !== null) {
        // A pte table's worth at a time: its frames come (and are read into) as the read goes, as
        // a reader allocating its buffers as it reads gets memory freed just before.
        for (let from = at; from < to; ) {
          const piece = Math.min(to, (Math.floor(from / TARGET_PAGES) + 1) * TARGET_PAGES);
          this.readTarget(k, from, piece, offset + (from - at) * PAGE_SIZE, sink, target);
          from = piece;
        }
      } else {
        let page = at;
        this.cursors[k].read(offset, (to - at) * PAGE_SIZE, sink === null ? null : (d) => {
          sink(page, d, k);
          page += d.length / PAGE_SIZE;
        });
      }
      at = to;
      if (to < e.vaddr + e.nr_pages) break;
    }
  }

  /** Pages [at, to) of link k, whose data is at `offset` of its pages.img, read straight into the target's views. */
  private readTarget(k: number, at: number, to: number, offset: number, sink: PageSink | null, target: PageTarget): void {
    let page = at;
    const views = target(at, to - at);
    if (views.length > 1 && ((to - at) * PAGE_SIZE) / views.length < SCATTER_BYTES) {
      // Scattered frames (recycled ones come in any order): one read per window and a copy
      // beat a read per page.
      let v = 0;
      let into = 0;
      this.cursors[k].read(offset, (to - at) * PAGE_SIZE, (d) => {
        for (let from = 0; from < d.length; ) {
          const dst = views[v];
          const n = Math.min(d.length - from, dst.length - into);
          dst.set(d.subarray(from, from + n), into);
          from += n;
          into += n;
          if (into === dst.length) {
            sink?.(page, dst, k);
            page += dst.length / PAGE_SIZE;
            v++;
            into = 0;
          }
        }
      });
    } else {
      let off = offset;
      for (const d of views) {
        this.cursors[k].readInto(off, d);
        sink?.(page, d, k);
        page += d.length / PAGE_SIZE;
        off += d.length;
      }
    }
    if (page !== to) throw new Error(`internal: page-read target covered ${page - at} of ${to - at} pages`);
  }
}

/** `tracker check`: the chain is whole (every check restore makes of images), or an ImageError says what is wrong. */
export function checkChain(finalDir: string): Chain {
  const chain = openChain(finalDir);
  new PageRead(chain).readAll(null);
  return chain;
}

export interface CheckReport {
  images_dir: string;
  whole: true;
  iterations: number[];
  final_type: 'pre-dump' | 'dump';
  /** Pages the final iteration's pagemap names, and how many of them parents hold. */
  pages: number;
  pages_in_parent: number;
  /** Bytes of page data checksummed, over every pages.img of the chain. */
  page_bytes_checked: number;
}

export function checkReport(finalDir: string): CheckReport {
  const chain = checkChain(finalDir);
  const last = chain.links[chain.links.length - 1];
  let pages = 0;
  let inParent = 0;
  for (const e of last.entries) {
    pages += e.nr_pages;
    if (e.flags !== PE_PRESENT) inParent += e.nr_pages;
  }
  return {
    images_dir: finalDir,
    whole: true,
    iterations: chain.links.map((l) => l.inventory.iteration),
    final_type: last.inventory.type,
    pages,
    pages_in_parent: inParent,
    page_bytes_checked: chain.links.reduce((a, l) => a + l.pagesBytes, 0),
  };
}

/** A VMA as the restorer re-creates it: mm.img's syscall arguments (vma-entry.ts). */
export interface VmaRestoreArgs {
  start: number;
  pages: number;
  /** PROT_* as mmap/mprotect take it. */
  prot: number;
  /** MAP_PRIVATE or MAP_SHARED, MAP_ANONYMOUS, MAP_NORESERVE (a private writable VMA never charged). */
  flags: number;
  /** madvise(2) advice the VMA had (MADV_HUGEPAGE / MADV_NOHUGEPAGE). */
  madv: MadviseAdvice[];
  pgoff: number;
  /** The tmpfs file a private file mapping maps (null for anonymous memory). */
  file: { name: string; pages: number } | null;
  /** Index of its object in shmem.img (shared anonymous VMAs), or -1. */
  shmem: number;
}

/** Everything the restorer needs from a chain ending in a final dump (CRIU's restorer args). */
export interface RestoreArgs {
  /** The final dump's directory. */
  dir: string;
  kernel: KernelProfileName;
  vmas: VmaRestoreArgs[];
  shmem: ShmemImage;
  core: CoreImage;
  inventory: InventoryEntry;
  /** Pages the images name (private and shared): what the machine must hold. */
  pages: number;
  /** The iteration directories, oldest first. */
  iterations: { iteration: number; dir: string }[];
  /** Serve every private page of the final pagemap, following in-parent entries down the chain. */
  readPages(sink: PageSink, target: PageTarget): void;
}

/** mm.img's vma_entry as the restorer's arguments: its syscall arguments, the madv bits as calls. */
function vmaRestoreArgs(v: MmEntry['vmas'][number]): VmaRestoreArgs {
  const madv = MADV_BITS.filter(([n]) => (v.madv & (1 << n)) !== 0).map(([, advice]) => advice);
  return { start: v.start, pages: v.end - v.start, prot: v.prot, flags: v.map_flags, madv, pgoff: v.pgoff, file: v.file === null ? null : { name: v.file.name, pages: v.file.pages }, shmem: v.shmem };
}

/** The restorer's arguments for a validated chain; ImageError unless it ends in a final dump. */
export function restoreArgs(chain: Chain): RestoreArgs {
  const last = chain.links[chain.links.length - 1];
  if (chain.dump === null) throw new ImageError(`${last.dir}: is a pre-dump; restore from the final dump (the largest iteration)`);
  if (!isKernelProfileName(last.inventory.kernel)) throw new ImageError(`${last.dir}: unknown kernel profile '${last.inventory.kernel}'`);
  const { mm, shmem, core } = chain.dump;
  let pages = shmem.data.length / PAGE_SIZE;
  for (const e of last.entries) pages += e.nr_pages;
  return {
    dir: last.dir,
    kernel: last.inventory.kernel,
    vmas: mm.vmas.map(vmaRestoreArgs),
    shmem,
    core,
    inventory: last.inventory,
    pages,
    iterations: chain.links.map((l) => ({ iteration: l.inventory.iteration, dir: l.dir })),
    readPages: (sink, target) => new PageRead(chain).readAll(sink, target),
  };
}
