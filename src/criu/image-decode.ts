/**
 * Each image kind read and validated the one way restore, check, show, stats and compare read
 * it: the header and checksum (image.ts), then every field restore relies on, so a well-formed
 * payload of the wrong shape is refused with a one-line ImageError naming the file.
 */
import { ImageError } from '../errors.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { readImage } from './image.js';
import { readCompression, type PageCompression } from './page-compress.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type CoreImage, type InventoryEntry, type IterationStats, type MmEntry, type PagemapEntry, type PagemapImage, type ShmemImage, type VmaEntry } from './schema.js';
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from '../task/syscalls.js';
import { MADV_BITS, vmaSyscallArgs } from './vma-entry.js';

/** Highest page number of a user address (47 bits). */
const MAX_USER_VPN = 2 ** 35;
/** Shmem and file objects keep per-page arrays on restore: bound them so a corrupt image cannot ask for gigabytes. */
export const MAX_FILE_PAGES = 1 << 22;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function readInventoryFile(path: string): InventoryEntry {
  const inv = readImage<InventoryEntry>(path, 'inventory');
  if (!isObject(inv) || inv.format !== 'tracker') throw new ImageError(`${path}: inventory is not a tracker inventory`);
  if (!Number.isSafeInteger(inv.iteration) || inv.iteration < 1) throw new ImageError(`${path}: inventory has a bad iteration number`);
  if (inv.type !== 'pre-dump' && inv.type !== 'dump') throw new ImageError(`${path}: inventory has an unknown type`);
  if (inv.parent !== null && typeof inv.parent !== 'string') throw new ImageError(`${path}: inventory parent must be a relative path or null`);
  if (!isCount(inv.steps)) throw new ImageError(`${path}: inventory step count is not a count`);
  return inv;
}

export const STAT_FIELDS = ['pages_scanned', 'pages_skipped_parent', 'pages_written', 'pages_zero', 'bytes_written', 'frozen_time', 'memdump_time', 'memwrite_time', 'steps_during_copy'] as const;

export function readStatsFile(path: string): IterationStats {
  const s = readImage<IterationStats>(path, 'stats');
  if (!isObject(s)) throw new ImageError(`${path}: stats image is not an object`);
  for (const f of STAT_FIELDS) if (!isCount(s[f])) throw new ImageError(`${path}: stats image field ${f} is not a count`);
  if (s.bytes_stored !== undefined && !isCount(s.bytes_stored)) throw new ImageError(`${path}: stats image field bytes_stored is not a count`);
  return s;
}

/** Entries in address order, disjoint, each PE_PRESENT or PE_PARENT. */
export function readPagemapFile(path: string): PagemapEntry[] {
  return readPagemapImageFile(path).entries;
}

/** The entries (PE_PRESENT, PE_PARENT, or released by dedup) and how the page data is compressed. */
export function readPagemapImageFile(path: string): { entries: PagemapEntry[]; compression: PageCompression | null } {
  const pm = readImage<PagemapImage>(path, 'pagemap');
  if (!isObject(pm) || !Array.isArray(pm.entries)) throw new ImageError(`${path}: pagemap image has no entries list`);
  let prevEnd = -1;
  for (const e of pm.entries) {
    if (!isObject(e) || !Number.isSafeInteger(e.vaddr) || !Number.isSafeInteger(e.nr_pages) || e.nr_pages < 1 || e.vaddr < Math.max(0, prevEnd) || e.vaddr + e.nr_pages > MAX_USER_VPN)
      throw new ImageError(`${path}: pagemap entry out of order or malformed`);
    if (e.flags !== PE_PARENT && e.flags !== PE_PRESENT && e.flags !== (PE_PRESENT | PE_RELEASED)) throw new ImageError(`${path}: pagemap entry with unknown flags ${String(e.flags)}`);
    prevEnd = e.vaddr + e.nr_pages;
  }
  return { entries: pm.entries, compression: readCompression(path, pm.compression) };
}

export function readMmFile(path: string): MmEntry {
  const m = readImage<MmEntry>(path, 'mm');
  if (!isObject(m) || !Array.isArray(m.vmas)) throw new ImageError(`${path}: mm image has no VMA list`);
  let prevEnd = 0;
  for (const v of m.vmas) {
    const ok =
      isObject(v) &&
      Number.isSafeInteger(v.start) &&
      Number.isSafeInteger(v.end) &&
      v.start >= prevEnd &&
      v.end > v.start &&
      v.end <= MAX_USER_VPN &&
      Number.isSafeInteger(v.flags) &&
      Number.isSafeInteger(v.pgoff) &&
      v.pgoff >= 0 &&
      (v.kind === 'anon' || v.kind === 'shared' || v.kind === 'file');
    if (!ok) throw new ImageError(`${path}: mm image has a malformed or overlapping VMA`);
    if (v.kind === 'shared' && v.pgoff + (v.end - v.start) > MAX_FILE_PAGES) throw new ImageError(`${path}: shared VMA larger than ${MAX_FILE_PAGES} pages`);
    if (v.kind === 'file' && (!isObject(v.file) || typeof v.file.name !== 'string' || !Number.isSafeInteger(v.file.pages) || v.file.pages < 0 || v.file.pages > MAX_FILE_PAGES))
      throw new ImageError(`${path}: file VMA without a valid file`);
    // Version 1 held vm_flags only: the syscall arguments are what the dumper of version 2 derives.
    if (v.prot === undefined && v.map_flags === undefined && v.madv === undefined) Object.assign(v, vmaSyscallArgs(v.kind, v.flags));
    if (!validSyscallArgs(v)) throw new ImageError(`${path}: mm image has a VMA whose prot, map_flags or madv are malformed or disagree with its kind`);
    prevEnd = v.end;
  }
  return m;
}

const MAP_KNOWN = MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
const MADV_KNOWN = MADV_BITS.reduce((m, [n]) => m | (1 << n), 0);

/** prot, map_flags and madv: known bits only, and the mapping type the VMA's kind is. */
function validSyscallArgs(v: VmaEntry): boolean {
  if (!Number.isSafeInteger(v.prot) || !Number.isSafeInteger(v.map_flags) || !Number.isSafeInteger(v.madv)) return false;
  if ((v.prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0 || (v.map_flags & ~MAP_KNOWN) !== 0 || (v.madv & ~MADV_KNOWN) !== 0 || v.prot < 0 || v.madv < 0) return false;
  const type = v.map_flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS);
  return type === (v.kind === 'shared' ? MAP_SHARED | MAP_ANONYMOUS : v.kind === 'anon' ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE);
}

/** shmem.img, checked against the VMAs that map its objects. */
export function readShmemFile(path: string, mm: MmEntry): ShmemImage {
  const sh = readImage<ShmemImage>(path, 'shmem');
  if (!isObject(sh) || !Array.isArray(sh.objects) || !(sh.data instanceof Uint8Array)) throw new ImageError(`${path}: shmem image is malformed`);
  let pages = 0;
  for (const o of sh.objects) {
    if (!isObject(o) || !Array.isArray(o.runs) || !Number.isSafeInteger(o.pages) || o.pages < 0 || o.pages > MAX_FILE_PAGES) throw new ImageError(`${path}: shmem object is malformed`);
    let prevEnd = 0;
    for (const r of o.runs) {
      if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < prevEnd || r[1] < 1 || r[0] + r[1] > o.pages) throw new ImageError(`${path}: shmem run is malformed`);
      prevEnd = r[0] + r[1];
      pages += r[1];
    }
  }
  if (pages * PAGE_SIZE !== sh.data.length) throw new ImageError(`${path}: shmem image names ${pages} pages but holds ${sh.data.length / PAGE_SIZE}`);
  for (const v of mm.vmas) {
    if (v.kind !== 'shared') continue;
    if (!Number.isSafeInteger(v.shmem) || v.shmem < 0 || v.shmem >= sh.objects.length) throw new ImageError(`${path}: a shared VMA names a missing shmem object`);
  }
  return sh;
}

export function readCoreFile(path: string): CoreImage {
  const c = readImage<CoreImage>(path, 'core');
  if (!isObject(c) || !isObject(c.state)) throw new ImageError(`${path}: core image holds no program state`);
  return c;
}
