/**
 * `tracker show`, our `crit show`: decode an image file (recognised by its magic, whatever its
 * name) or a whole iteration directory into plain JSON-able objects. Addresses become hex, flags
 * become names; page data is summarised (count and CRC-32), never dumped, unless a hex view of
 * given pages is asked for. Also the `crit x DIR mems` and `crit x DIR rss` views.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ImageError, InputError, UsageError } from '../errors.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, vmFlagsString } from '../mm/vma.js';
import { crc32, IMAGE_FILES, readHeader, type ImageKind } from './image.js';
import { readCoreFile, readInventoryFile, readMmFile, readPagemapImageFile, readShmemFile, readStatsFile } from './image-decode.js';
import { compressionRatio } from './stats.js';
import { checkChain, checkPagesFile, IMAGE_KINDS, PageRead, type Chain } from './page-read.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type MmEntry, type VmaEntry } from './schema.js';
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED } from '../task/syscalls.js';
import { MADV_BITS } from './vma-entry.js';
import { imageKindOf } from './stats.js';

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
  /** The syscall arguments mm.img records (CRIU's vma_entry flags and madv), by name. */
  map_flags: string;
  madv: string[];
  pgoff: number;
  file: VmaEntry['file'];
  shmem: number;
}

const MAP_NAMES = [
  [MAP_SHARED, 'MAP_SHARED'],
  [MAP_PRIVATE, 'MAP_PRIVATE'],
  [MAP_ANONYMOUS, 'MAP_ANONYMOUS'],
  [MAP_NORESERVE, 'MAP_NORESERVE'],
] as const;

function shownHeader(path: string): ImageHeader {
  const { header: h } = readHeader(path);
  if (h === null) throw new ImageError(`${path}: truncated image; the image is damaged, dump again`);
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(h.magic);
  return { magic: magic.toString('latin1'), version: h.version, payload_bytes: Number(h.length), crc32: hex(h.crc) };
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
    map_flags: MAP_NAMES.filter(([bit]) => (v.map_flags & bit) !== 0).map(([, name]) => name).join('|'),
    madv: MADV_BITS.filter(([n]) => (v.madv & (1 << n)) !== 0).map(([, advice]) => advice),
    pgoff: v.pgoff,
    file: v.file,
    shmem: v.shmem,
  };
}

function decodeContents(path: string, kind: ImageKind): Record<string, unknown> {
  switch (kind) {
    case 'inventory':
      return { ...readInventoryFile(path) };
    case 'stats':
      return { ...readStatsFile(path) };
    case 'mm':
      return { vmas: readMmFile(path).vmas.map(showVma) };
    case 'pagemap': {
      const { entries, compression } = readPagemapImageFile(path);
      const count = (flag: number) => entries.reduce((a, e) => a + ((e.flags & flag) !== 0 ? e.nr_pages : 0), 0);
      return {
        entries: entries.map((e) => ({ vaddr: vaddrHex(e.vaddr), nr_pages: e.nr_pages, flags: peFlagsString(e.flags) })),
        pages_present: count(PE_PRESENT) - count(PE_RELEASED),
        pages_in_parent: count(PE_PARENT),
        pages_released: count(PE_RELEASED),
        ...(compression !== null ? { compression } : {}),
      };
    }
    case 'pages': {
      // Streamed: the checksum is verified without loading the page data.
      const img = checkPagesFile(path);
      // A compressed pages.img is described by its pagemap (the frames are checked by page-read).
      const pmPath = join(dirname(path), IMAGE_FILES.pagemap);
      const pm = existsSync(pmPath) ? readPagemapImageFile(pmPath) : null;
      if (pm !== null && pm.compression !== null) {
        const raw = pm.entries.reduce((a, e) => a + ((e.flags & PE_PRESENT) !== 0 ? e.nr_pages * PAGE_SIZE : 0), 0);
        return { pages: raw / PAGE_SIZE, bytes: raw, stored_bytes: img.bytes, compression: pm.compression.codec, region: pm.compression.region, ratio: compressionRatio(raw, img.bytes), crc32: hex(img.crc) };
      }
      if (img.bytes % PAGE_SIZE !== 0) throw new ImageError(`${path}: page data is ${img.bytes} bytes, not a whole number of pages`);
      return { pages: img.bytes / PAGE_SIZE, bytes: img.bytes, crc32: hex(img.crc) };
    }
    case 'shmem': {
      // On its own, shmem.img is checked without the VMAs that map it.
      const s = readShmemFile(path, { vmas: [] });
      return {
        objects: s.objects.map((o) => ({ id: o.id, pages: o.pages, runs: o.runs, pages_with_data: o.runs.reduce((a, r) => a + r[1], 0) })),
        data: { pages: Math.floor(s.data.length / PAGE_SIZE), bytes: s.data.length, crc32: hex(crc32(s.data) >>> 0) },
      };
    }
    case 'core': {
      return { state: readCoreFile(path).state };
    }
  }
}

/** Decode one image file, whatever its name. */
export function showImageFile(path: string): ShownImage {
  if (!existsSync(path)) throw new InputError(`${path}: no such file or directory`);
  if (statSync(path).isDirectory()) throw new UsageError(`${path}: is a directory, not an image file`);
  const kind = imageKindOf(path);
  if (kind === null) throw new InputError(`${path}: not a tracker image (no known magic in its first 4 bytes)`);
  const header = shownHeader(path);
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
  checkChain(dir);
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

/**
 * Each page of the spec as this iteration's pagemap names it; its data and the iteration that
 * holds it come from page-read, which follows in-parent entries down the checked chain.
 */
export function showPages(path: string, spec: PageSpec): PagesView {
  const dir = iterationDirOf(path);
  requireIterationDir(dir);
  const chain = openCheckedChain(dir);
  const last = chain.links.length - 1;
  const entries = chain.links[last].entries;
  const first = Math.floor(spec.vaddr / PAGE_SIZE);
  const end = first + spec.count;
  const pages: ShownPage[] = [];
  for (let vpn = first; vpn < end; vpn++) {
    const i = findEntry(entries, vpn);
    const where = i < 0 ? 'not_dumped' : (entries[i].flags & PE_RELEASED) !== 0 ? 'released' : (entries[i].flags & PE_PRESENT) !== 0 ? 'present' : 'in_parent';
    pages.push({ vaddr: vaddrHex(vpn), where, iteration: null, crc32: null, hexdump: [] });
  }
  new PageRead(chain).readAll((vpn, data, link) => {
    const n = data.length / PAGE_SIZE;
    for (let v = Math.max(vpn, first); v < Math.min(vpn + n, end); v++) {
      const page = data.subarray((v - vpn) * PAGE_SIZE, (v - vpn + 1) * PAGE_SIZE);
      const p = pages[v - first];
      p.iteration = chain.links[link].inventory.iteration;
      if (p.where === 'present') {
        p.crc32 = hex(crc32(page) >>> 0);
        p.hexdump = hexdumpRows(page, v * PAGE_SIZE);
      }
    }
  });
  return { dir, pages };
}

/** Index of the pagemap entry holding page vpn, or -1 (entries are sorted and disjoint). */
function findEntry(entries: readonly { vaddr: number; nr_pages: number }[], vpn: number): number {
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

/** The chain of an iteration directory, with every check restore makes (page data read separately). */
function openCheckedChain(dir: string): Chain {
  return checkChain(dir);
}

// ---------------------------------------------------------------------------------------------
// crit x DIR mems / rss

function requireMm(dir: string, what: string): { mm: MmEntry; chain: Chain } {
  requireIterationDir(dir);
  const inv = readInventoryFile(join(dir, IMAGE_FILES.inventory));
  if (inv.type === 'pre-dump') throw new UsageError(`${dir}: is a pre-dump, which holds no VMAs (mm.img); use ${what} on the final dump`);
  const chain = openCheckedChain(dir);
  return { mm: chain.dump!.mm, chain };
}

export interface MemsView {
  dir: string;
  vmas: ShownVma[];
}

export function showMems(dir: string): MemsView {
  return { dir, vmas: requireMm(dir, '--mems').mm.vmas.map(showVma) };
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
  const { mm, chain } = requireMm(dir, '--rss');
  const shmem = chain.dump!.shmem;
  const last = chain.links.length - 1;
  const here = chain.links[last].inventory.iteration;
  const rows: RssVma[] = mm.vmas.map((v) => ({ start: vaddrHex(v.start), end: vaddrHex(v.end), kind: v.kind, prot: protString(v.flags), pages: v.end - v.start, in_image: 0, in_parents: 0, by_iteration: {} }));
  // Private pages: page-read tells which iteration holds each run; VMAs and runs both go up in address.
  const byIt = mm.vmas.map(() => new Map<number, number>());
  let vi = 0;
  new PageRead(chain).readAll((vpn, data, link) => {
    let at = vpn;
    const end = vpn + data.length / PAGE_SIZE;
    while (at < end && vi < mm.vmas.length) {
      const v = mm.vmas[vi];
      if (v.end <= at) {
        vi++;
        continue;
      }
      const to = Math.min(end, v.end);
      const n = to - Math.max(at, v.start);
      if (n > 0) {
        if (link === last) rows[vi].in_image += n;
        else rows[vi].in_parents += n;
        const m = byIt[vi];
        const it = chain.links[link].inventory.iteration;
        m.set(it, (m.get(it) ?? 0) + n);
      }
      at = to;
    }
  });
  const totals = { pages: 0, in_image: 0, in_parents: 0, by_iteration: {} as Record<string, number> };
  mm.vmas.forEach((v, i) => {
    const r = rows[i];
    if (v.kind === 'shared') {
      // Shared memory goes by contents into shmem.img of the final dump, never to parents.
      for (const [first, n] of shmem.objects[v.shmem]?.runs ?? []) {
        const lo = Math.max(first, v.pgoff);
        const hi = Math.min(first + n, v.pgoff + (v.end - v.start));
        if (hi > lo) r.in_image += hi - lo;
      }
      if (r.in_image > 0) byIt[i].set(here, r.in_image);
    }
    // This iteration first, then its parents, newest first.
    for (const it of [...byIt[i].keys()].sort((a, b) => (a === here ? -1 : b === here ? 1 : b - a))) r.by_iteration[String(it)] = byIt[i].get(it)!;
    totals.pages += r.pages;
    totals.in_image += r.in_image;
    totals.in_parents += r.in_parents;
    for (const [k, n] of Object.entries(r.by_iteration)) totals.by_iteration[k] = (totals.by_iteration[k] ?? 0) + n;
  });
  return { dir, iteration: here, vmas: rows, totals };
}
