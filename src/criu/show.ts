/**
 * `tracker show`, our `crit show`: decode an image file (recognised by its magic, whatever its
 * name) or a whole iteration directory into plain JSON-able objects. Addresses become hex, flags
 * become names; page data is summarised (count and CRC-32), never dumped, unless a hex view of
 * given pages is asked for. Also the `crit x DIR mems` and `crit x DIR rss` views.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ImageError, InputError, UsageError } from '../errors.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, vmFlagsString } from '../mm/vma.js';
import { HEADER_BYTES, IMAGE_FILES, RawImage, readImage, type ImageKind } from './image.js';
import { openPageData, readCompression, type PageData } from './page-compress.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type CoreImage, type MmEntry, type PagemapEntry, type PagemapImage, type ShmemImage, type VmaEntry } from './schema.js';
import { compressionRatio, IMAGE_KINDS, imageKindOf, readInventory, readInventoryFile, readStatsFile, walkChain } from './stats.js';
import * as zlib from 'node:zlib';

const crc32: (data: Uint8Array) => number = (zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32;

export const hex = (n: number): string => `0x${n.toString(16)}`;
/** A page number as the address of its first byte. */
export const vaddrHex = (vpn: number): string => hex(vpn * PAGE_SIZE);

/** PE_* names, as CRIU's pagemap.proto spells the flags in `crit show`. */
const PE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [PE_PARENT, 'in_parent'],
  [PE_PRESENT, 'present'],
  [PE_RELEASED, 'released'],
];

export function peFlagsString(flags: number): string {
  const names = PE_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
  const rest = PE_NAMES.reduce((f, [bit]) => f & ~bit, flags);
  if (rest !== 0) names.push(hex(rest));
  return names.join(' | ');
}

/** /proc/PID/maps style protection: rwxp or rwxs. */
export function protString(flags: number): string {
  return (flags & VM_READ ? 'r' : '-') + (flags & VM_WRITE ? 'w' : '-') + (flags & VM_EXEC ? 'x' : '-') + (flags & VM_SHARED ? 's' : 'p');
}

export interface ImageHeader {
  magic: string;
  version: number;
  payload_bytes: number;
  crc32: string;
}

export interface ShownImage {
  file: string;
  kind: ImageKind;
  header: ImageHeader;
  contents: Record<string, unknown>;
}

export interface ShownVma {
  start: string;
  end: string;
  pages: number;
  prot: string;
  kind: VmaEntry['kind'];
  flags: string;
  vm_flags: string;
  pgoff: number;
  file: VmaEntry['file'];
  shmem: number;
}

function readHeader(path: string): ImageHeader {
  const b = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  return {
    magic: b.subarray(0, 4).reverse().toString('latin1'),
    version: b.readUInt32LE(4),
    payload_bytes: Number(b.readBigUInt64LE(8)),
    crc32: hex(b.readUInt32LE(16)),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function showVma(v: VmaEntry): ShownVma {
  return {
    start: vaddrHex(v.start),
    end: vaddrHex(v.end),
    pages: v.end - v.start,
    prot: protString(v.flags),
    kind: v.kind,
    flags: vmFlagsString(v.flags),
    vm_flags: hex(v.flags),
    pgoff: v.pgoff,
    file: v.file,
    shmem: v.shmem,
  };
}

function readMm(path: string): MmEntry {
  const mm = readImage<MmEntry>(path, 'mm');
  if (!isObject(mm) || !Array.isArray(mm.vmas)) throw new ImageError(`${path}: mm image has no VMA list`);
  for (const v of mm.vmas) {
    if (!isObject(v) || !Number.isSafeInteger(v.start) || !Number.isSafeInteger(v.end) || v.end <= v.start || !Number.isSafeInteger(v.flags))
      throw new ImageError(`${path}: malformed VMA entry`);
  }
  return mm;
}

function readPagemap(path: string): PagemapEntry[] {
  return readPagemapImage(path).entries;
}

function readPagemapImage(path: string): PagemapImage {
  const pm = readImage<PagemapImage>(path, 'pagemap');
  if (!isObject(pm) || !Array.isArray(pm.entries)) throw new ImageError(`${path}: pagemap image has no entries list`);
  let prevEnd = -1;
  for (const e of pm.entries) {
    if (!isObject(e) || !Number.isSafeInteger(e.vaddr) || !Number.isSafeInteger(e.nr_pages) || e.nr_pages < 1 || e.vaddr < prevEnd || !Number.isSafeInteger(e.flags))
      throw new ImageError(`${path}: pagemap entry out of order or malformed`);
    prevEnd = e.vaddr + e.nr_pages;
  }
  readCompression(path, pm.compression);
  return pm;
}

/** Raw bytes the PE_PRESENT entries name. */
function presentBytes(entries: PagemapEntry[]): number {
  let n = 0;
  for (const e of entries) if ((e.flags & PE_PRESENT) !== 0) n += e.nr_pages * PAGE_SIZE;
  return n;
}

function readShmem(path: string): ShmemImage {
  const s = readImage<ShmemImage>(path, 'shmem');
  if (!isObject(s) || !Array.isArray(s.objects) || !(s.data instanceof Uint8Array)) throw new ImageError(`${path}: shmem image is malformed`);
  return s;
}

function decodeContents(path: string, kind: ImageKind): Record<string, unknown> {
  switch (kind) {
    case 'inventory':
      return { ...readInventoryFile(path) };
    case 'stats':
      return { ...readStatsFile(path) };
    case 'mm':
      return { vmas: readMm(path).vmas.map(showVma) };
    case 'pagemap': {
      const pm = readPagemapImage(path);
      const entries = pm.entries;
      const count = (flag: number) => entries.reduce((a, e) => a + ((e.flags & flag) !== 0 ? e.nr_pages : 0), 0);
      return {
        entries: entries.map((e) => ({ vaddr: vaddrHex(e.vaddr), nr_pages: e.nr_pages, flags: peFlagsString(e.flags) })),
        pages_present: count(PE_PRESENT) - count(PE_RELEASED),
        pages_released: count(PE_RELEASED),
        pages_in_parent: count(PE_PARENT),
        ...(pm.compression !== undefined ? { compression: pm.compression } : {}),
      };
    }
    case 'pages': {
      // Streamed: the checksum is verified on open, without loading the page data.
      // A compressed pages.img is read through its pagemap, which says how.
      const pmPath = join(dirname(path), IMAGE_FILES.pagemap);
      const pm = existsSync(pmPath) ? readPagemapImage(pmPath) : null;
      if (pm?.compression !== undefined) {
        const data = openPageData(dirname(path), RawImage.open(path, 'pages'), readCompression(pmPath, pm.compression), presentBytes(pm.entries));
        data.close();
        return { pages: data.length / PAGE_SIZE, bytes: data.length, stored_bytes: data.stored, compression: pm.compression.codec, region: pm.compression.region, ratio: compressionRatio(data.length, data.stored), crc32: hex(readFileCrc(path)) };
      }
      const img = RawImage.open(path, 'pages');
      img.close();
      if (img.length % PAGE_SIZE !== 0) throw new ImageError(`${path}: page data is ${img.length} bytes, not a whole number of pages`);
      return { pages: img.length / PAGE_SIZE, bytes: img.length, crc32: hex(readFileCrc(path)) };
    }
    case 'shmem': {
      const s = readShmem(path);
      return {
        objects: s.objects.map((o) => ({ id: o.id, pages: o.pages, runs: o.runs, pages_with_data: o.runs.reduce((a, r) => a + r[1], 0) })),
        data: { pages: Math.floor(s.data.length / PAGE_SIZE), bytes: s.data.length, crc32: hex(crc32(s.data) >>> 0) },
      };
    }
    case 'core': {
      const c = readImage<CoreImage>(path, 'core');
      if (!isObject(c) || !isObject(c.state)) throw new ImageError(`${path}: core image has no program state`);
      return { state: c.state };
    }
  }
}

/** Decode one image file, whatever its name. */
export function showImageFile(path: string): ShownImage {
  if (!existsSync(path)) throw new InputError(`${path}: no such file or directory`);
  if (statSync(path).isDirectory()) throw new UsageError(`${path}: is a directory, not an image file`);
  const kind = imageKindOf(path);
  if (kind === null) throw new InputError(`${path}: not a tracker image (no known magic in its first 4 bytes)`);
  const header = readHeader(path);
  return { file: path, kind, header, contents: decodeContents(path, kind) };
}

export interface ShownIteration {
  dir: string;
  images: ShownImage[];
  /** Image kinds this iteration has no file for (a pre-dump has no mm, shmem or core). */
  absent: ImageKind[];
}

function requireIterationDir(dir: string): void {
  if (!existsSync(dir)) throw new InputError(`${dir}: no such file or directory`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${dir}: not a directory; this view needs an iteration directory DIR/N`);
  if (!existsSync(join(dir, IMAGE_FILES.inventory))) {
    const iterations = readdirSync(dir).filter((e) => /^\d+$/.test(e)).sort((a, b) => Number(a) - Number(b));
    if (iterations.length > 0)
      throw new UsageError(`${dir}: is an images root (iterations ${iterations.join(', ')}); show one iteration, e.g. ${join(dir, iterations[iterations.length - 1])}, or run \`tracker stats ${dir}\``);
    throw new ImageError(`${dir}: no inventory.img; not an iteration directory`);
  }
}

/** Decode every image of an iteration directory, in IMAGE_FILES order. */
export function showIteration(dir: string): ShownIteration {
  requireIterationDir(dir);
  const images: ShownImage[] = [];
  const absent: ImageKind[] = [];
  for (const k of IMAGE_KINDS) {
    const p = join(dir, IMAGE_FILES[k]);
    if (existsSync(p)) images.push(showImageFile(p));
    else absent.push(k);
  }
  return { dir, images, absent };
}

// ---------------------------------------------------------------------------------------------
// Hex view of pages

export interface PageSpec {
  /** Address of the first page (any byte in it). */
  vaddr: number;
  count: number;
}

export interface ShownPage {
  vaddr: string;
  /** present: data in this iteration's pages.img; in_parent: left to a parent; not_dumped: a hole. */
  /** released: dedup gave its data back because a later iteration dumped the page again. */
  where: 'present' | 'in_parent' | 'not_dumped' | 'released';
  /** The iteration whose pages.img holds the data (for in_parent: found through the parents' pagemaps; null if none does). */
  iteration: number | null;
  crc32: string | null;
  /** hexdump -C style rows (16 bytes each, repeated rows folded to '*'); empty unless present. */
  hexdump: string[];
}

export interface PagesView {
  dir: string;
  pages: ShownPage[];
}

/** hexdump -C: address, 16 bytes in two groups of 8, printable ASCII; identical rows fold to '*'. */
export function hexdumpRows(data: Uint8Array, base: number): string[] {
  const rows: string[] = [];
  let prev = '';
  let folded = false;
  for (let off = 0; off < data.length; off += 16) {
    const chunk = data.subarray(off, Math.min(off + 16, data.length));
    const bytes = Buffer.from(chunk).toString('hex');
    const last = off + 16 >= data.length;
    if (bytes === prev && !last) {
      if (!folded) rows.push('*');
      folded = true;
      continue;
    }
    prev = bytes;
    folded = false;
    const cells: string[] = [];
    for (let i = 0; i < 16; i++) cells.push(i < chunk.length ? bytes.slice(2 * i, 2 * i + 2) : '  ');
    const ascii = Array.from(chunk, (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
    rows.push(`${(base + off).toString(16).padStart(12, '0')}  ${cells.slice(0, 8).join(' ')}  ${cells.slice(8).join(' ')}  |${ascii}|`);
  }
  return rows;
}

/** The iteration directory an image path belongs to (for --pages on pagemap.img or pages.img). */
function iterationDirOf(path: string): string {
  if (!existsSync(path)) throw new InputError(`${path}: no such file or directory`);
  if (statSync(path).isDirectory()) return path;
  const kind = imageKindOf(path);
  if (kind !== 'pagemap' && kind !== 'pages') throw new UsageError(`${path}: --pages needs an iteration directory, its pagemap.img or its pages.img`);
  return dirname(path);
}

export function showPages(path: string, spec: PageSpec): PagesView {
  const dir = iterationDirOf(path);
  requireIterationDir(dir);
  const pm = readPagemapImage(join(dir, IMAGE_FILES.pagemap));
  const entries = pm.entries;
  const data = openPageData(dir, RawImage.open(join(dir, IMAGE_FILES.pages), 'pages'), readCompression(dir, pm.compression), presentBytes(entries));
  try {
    return showPagesFrom(dir, entries, data, spec);
  } finally {
    data.close();
  }
}

function showPagesFrom(dir: string, entries: PagemapEntry[], data: PageData, spec: PageSpec): PagesView {
  // Offset in pages.img of each entry's first page: PE_PRESENT runs are stored back to back.
  const offsets: number[] = [];
  let off = 0;
  for (const e of entries) {
    offsets.push((e.flags & PE_PRESENT) !== 0 ? off : -1);
    if ((e.flags & PE_PRESENT) !== 0) off += e.nr_pages * PAGE_SIZE;
  }
  if (off !== data.length) throw new ImageError(`${dir}: pages.img holds ${data.length / PAGE_SIZE} pages, pagemap names ${off / PAGE_SIZE}`);
  const here = readInventory(dir).iteration;
  let parents: ParentLocator | null = null;
  const first = Math.floor(spec.vaddr / PAGE_SIZE);
  const pages: ShownPage[] = [];
  for (let vpn = first; vpn < first + spec.count; vpn++) {
    const i = findEntry(entries, vpn);
    if (i < 0) {
      pages.push({ vaddr: vaddrHex(vpn), where: 'not_dumped', iteration: null, crc32: null, hexdump: [] });
      continue;
    }
    const e = entries[i];
    if ((e.flags & PE_RELEASED) !== 0) {
      pages.push({ vaddr: vaddrHex(vpn), where: 'released', iteration: null, crc32: null, hexdump: [] });
      continue;
    }
    if ((e.flags & PE_PRESENT) === 0) {
      parents ??= parentLocator(dir);
      pages.push({ vaddr: vaddrHex(vpn), where: 'in_parent', iteration: parents(vpn), crc32: null, hexdump: [] });
      continue;
    }
    const start = offsets[i] + (vpn - e.vaddr) * PAGE_SIZE;
    const page = data.read(start, PAGE_SIZE);
    pages.push({ vaddr: vaddrHex(vpn), where: 'present', iteration: here, crc32: hex(crc32(page) >>> 0), hexdump: hexdumpRows(page, vpn * PAGE_SIZE) });
  }
  return { dir, pages };
}

/** vpn -> the parent iteration whose pages.img holds the page, or null if none does. */
type ParentLocator = (vpn: number) => number | null;

/**
 * Trace in-parent pages through the parents' pagemaps (never their page data), as restore's
 * findPage does: the nearest parent with a present entry holds the page.
 */
function parentLocator(dir: string): ParentLocator {
  const chain = walkChain(dir);
  const pagemaps = chain.map((c) => readPagemap(join(c.dir, IMAGE_FILES.pagemap)));
  return (vpn) => {
    for (let k = chain.length - 2; k >= 0; k--) {
      const i = findEntry(pagemaps[k], vpn);
      if (i < 0) return null;
      if ((pagemaps[k][i].flags & PE_RELEASED) !== 0) return null;
      if ((pagemaps[k][i].flags & PE_PRESENT) !== 0) return chain[k].inventory.iteration;
    }
    return null;
  };
}

/** Index of the pagemap entry holding page vpn, or -1 (entries are sorted and disjoint). */
function findEntry(entries: PagemapEntry[], vpn: number): number {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid];
    if (vpn < e.vaddr) hi = mid - 1;
    else if (vpn >= e.vaddr + e.nr_pages) lo = mid + 1;
    else return mid;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// crit x DIR mems / rss

function requireMm(dir: string, what: string): MmEntry {
  requireIterationDir(dir);
  const p = join(dir, IMAGE_FILES.mm);
  if (!existsSync(p)) {
    const inv = readInventory(dir);
    if (inv.type === 'pre-dump') throw new UsageError(`${dir}: is a pre-dump, which holds no VMAs (mm.img); use ${what} on the final dump`);
    throw new ImageError(`${p}: missing image file`);
  }
  return readMm(p);
}

export interface MemsView {
  dir: string;
  vmas: ShownVma[];
}

export function showMems(dir: string): MemsView {
  return { dir, vmas: requireMm(dir, '--mems').vmas.map(showVma) };
}

export interface RssVma {
  start: string;
  end: string;
  kind: VmaEntry['kind'];
  prot: string;
  pages: number;
  /** Pages whose data is in this iteration (pages.img, or shmem.img for shared mappings). */
  in_image: number;
  /** Pages left to parents, and in which parent iteration each actually is. */
  in_parents: number;
  by_iteration: Record<string, number>;
}

export interface RssView {
  dir: string;
  iteration: number;
  vmas: RssVma[];
  totals: { pages: number; in_image: number; in_parents: number; by_iteration: Record<string, number> };
}

/**
 * Per VMA, the pages this image holds and those it leaves to parents, each in-parent page traced
 * through the parents' pagemaps (not their page data) to the iteration that has it.
 */
export function showRss(dir: string): RssView {
  const mm = requireMm(dir, '--rss');
  const entries = readPagemap(join(dir, IMAGE_FILES.pagemap));
  const locate = parentLocator(dir);
  const shmemPath = join(dir, IMAGE_FILES.shmem);
  const shmem = existsSync(shmemPath) ? readShmem(shmemPath) : null;
  const vmas: RssVma[] = [];
  const totals = { pages: 0, in_image: 0, in_parents: 0, by_iteration: {} as Record<string, number> };
  const here = readInventory(dir).iteration;
  for (const v of mm.vmas) {
    const r: RssVma = { start: vaddrHex(v.start), end: vaddrHex(v.end), kind: v.kind, prot: protString(v.flags), pages: v.end - v.start, in_image: 0, in_parents: 0, by_iteration: {} };
    if (v.kind === 'shared') {
      // Shared memory goes by contents into shmem.img of the final dump, never to parents.
      const obj = shmem?.objects[v.shmem];
      for (const [first, n] of obj?.runs ?? []) {
        const lo = Math.max(first, v.pgoff);
        const hi = Math.min(first + n, v.pgoff + (v.end - v.start));
        if (hi > lo) r.in_image += hi - lo;
      }
    } else {
      for (let i = Math.max(0, findFirstAtOrAfter(entries, v.start)); i < entries.length && entries[i].vaddr < v.end; i++) {
        const e = entries[i];
        const lo = Math.max(e.vaddr, v.start);
        const hi = Math.min(e.vaddr + e.nr_pages, v.end);
        if ((e.flags & PE_PRESENT) !== 0) r.in_image += hi - lo;
        else {
          r.in_parents += hi - lo;
          for (let vpn = lo; vpn < hi; vpn++) {
            const it = locate(vpn);
            const key = it === null ? 'missing' : String(it);
            r.by_iteration[key] = (r.by_iteration[key] ?? 0) + 1;
          }
        }
      }
    }
    if (r.in_image > 0) r.by_iteration = { [String(here)]: r.in_image, ...r.by_iteration };
    vmas.push(r);
    totals.pages += r.pages;
    totals.in_image += r.in_image;
    totals.in_parents += r.in_parents;
    for (const [k, n] of Object.entries(r.by_iteration)) totals.by_iteration[k] = (totals.by_iteration[k] ?? 0) + n;
  }
  return { dir, iteration: here, vmas, totals };
}

/** First entry that ends after vpn (binary search). */
function findFirstAtOrAfter(entries: PagemapEntry[], vpn: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].vaddr + entries[mid].nr_pages <= vpn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The crc32 recorded in a checked image header (the checksum of its payload). */
function readFileCrc(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(HEADER_BYTES);
    readSync(fd, head, 0, HEADER_BYTES, 0);
    return head.readUInt32LE(16);
  } finally {
    closeSync(fd);
  }
}
