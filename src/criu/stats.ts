/**
 * `tracker stats`: a summary of a whole image chain (DIR/1 .. DIR/N) from the small images only:
 * inventory.img, stats.img and the sizes of the files. Page data is never read, so summarising a
 * chain of large dumps is cheap; `tracker restore` is what checks every page.
 *
 * The walk follows the same rules as restore's loadChain (relative parents inside the images root,
 * no loops, consecutive iterations) without loading pages.img.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ImageError, InputError } from '../errors.js';
import { HEADER_BYTES, IMAGE_FILES, IMAGE_MAGIC, readImage, type ImageKind } from './image.js';
import type { InventoryEntry, IterationStats } from './schema.js';

/** Same bound as loadChain: a longer chain is a loop or a damaged images root. */
const MAX_CHAIN = 10_000;

export const IMAGE_KINDS = Object.keys(IMAGE_FILES) as ImageKind[];

/** Bytes of each image file of an iteration; null when the iteration has no such file (pre-dumps). */
export type FileSizes = Record<ImageKind, number | null>;

export interface ChainIteration {
  /** Absolute, real path of the iteration directory. */
  dir: string;
  inventory: InventoryEntry;
  stats: IterationStats;
  files: FileSizes;
  bytes_allocated: number;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The kind of an image file, by its magic; null for anything else (or a file shorter than a header). */
export function imageKindOf(path: string): ImageKind | null {
  const head = Buffer.alloc(HEADER_BYTES);
  let n = 0;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((e as NodeJS.ErrnoException).code)}`);
  }
  try {
    n = readSync(fd, head, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 4) return null;
  const magic = head.readUInt32LE(0);
  return IMAGE_KINDS.find((k) => IMAGE_MAGIC[k] === magic) ?? null;
}

/**
 * The final iteration directory a path names: DIR/N itself, or for an images root the largest
 * numbered iteration in it (the others are its parents).
 */
export function resolveIterationDir(path: string): string {
  if (!existsSync(path)) throw new InputError(`${path}: no such file or directory`);
  if (!isDir(path)) throw new InputError(`${path}: not a directory (expected an images root or an iteration DIR/N)`);
  if (existsSync(join(path, IMAGE_FILES.inventory))) return path;
  const numbered = readdirSync(path)
    .filter((e) => /^\d+$/.test(e) && isDir(join(path, e)))
    .map(Number)
    .sort((a, b) => a - b);
  if (numbered.length === 0) throw new ImageError(`${path}: holds no iterations (no inventory.img and no numbered directories); is it an images directory?`);
  return join(path, String(numbered[numbered.length - 1]));
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Images pass their checksum; this only guards against well-formed payloads of the wrong shape. */
export function readInventoryFile(path: string): InventoryEntry {
  const inv = readImage<InventoryEntry>(path, 'inventory');
  if (inv === null || typeof inv !== 'object' || inv.format !== 'tracker') throw new ImageError(`${path}: inventory is not a tracker inventory`);
  if (!Number.isSafeInteger(inv.iteration) || inv.iteration < 1) throw new ImageError(`${path}: inventory has a bad iteration number`);
  if (inv.type !== 'pre-dump' && inv.type !== 'dump') throw new ImageError(`${path}: inventory has an unknown type`);
  return inv;
}

export function readInventory(dir: string): InventoryEntry {
  return readInventoryFile(join(dir, IMAGE_FILES.inventory));
}

const STAT_FIELDS = ['pages_scanned', 'pages_skipped_parent', 'pages_written', 'pages_zero', 'bytes_written', 'frozen_time', 'memdump_time', 'memwrite_time', 'steps_during_copy'] as const;

export function readStatsFile(path: string): IterationStats {
  const s = readImage<IterationStats>(path, 'stats');
  if (s === null || typeof s !== 'object') throw new ImageError(`${path}: stats image is not an object`);
  for (const f of STAT_FIELDS) if (!isCount(s[f])) throw new ImageError(`${path}: stats image field ${f} is not a count`);
  if (s.bytes_stored !== undefined && !isCount(s.bytes_stored)) throw new ImageError(`${path}: stats image field bytes_stored is not a count`);
  return s;
}

export function readStats(dir: string): IterationStats {
  return readStatsFile(join(dir, IMAGE_FILES.stats));
}

function fileSizes(dir: string): FileSizes {
  const out = {} as FileSizes;
  for (const k of IMAGE_KINDS) {
    const p = join(dir, IMAGE_FILES[k]);
    out[k] = existsSync(p) ? statSync(p).size : null;
  }
  return out;
}

/** Disk blocks the iteration's images occupy (st_blocks): smaller than their sizes once deduped. */
function allocatedBytes(dir: string): number {
  let n = 0;
  for (const k of IMAGE_KINDS) {
    const p = join(dir, IMAGE_FILES[k]);
    if (existsSync(p)) n += statSync(p).blocks * 512;
  }
  return n;
}

/** Page bytes that crossed the link for an iteration: compressed when it was compressed. */
export function linkBytes(s: Pick<IterationStats, 'bytes_written' | 'bytes_stored'>): number {
  return s.bytes_stored ?? s.bytes_written;
}

/** bytes_written / bytes stored, rounded to 2 decimals (1 for raw page data). */
export function compressionRatio(written: number, stored: number): number {
  return stored === 0 ? 1 : Math.round((written / stored) * 100) / 100;
}

/** Walk from an iteration directory back to the first iteration; returns the chain oldest first. */
export function walkChain(path: string): ChainIteration[] {
  const start = realpathSync(resolveIterationDir(path));
  const root = dirname(start);
  const chain: ChainIteration[] = [];
  const seen = new Set<string>();
  let dir: string | null = start;
  while (dir !== null) {
    if (seen.has(dir)) throw new ImageError(`${dir}: parent chain loops back to itself`);
    if (seen.size >= MAX_CHAIN) throw new ImageError(`${path}: parent chain longer than ${MAX_CHAIN}`);
    seen.add(dir);
    const inventory = readInventory(dir);
    chain.unshift({ dir, inventory, stats: readStats(dir), files: fileSizes(dir), bytes_allocated: allocatedBytes(dir) });
    const parent = inventory.parent;
    if (parent === null) break;
    if (typeof parent !== 'string' || parent.startsWith('/')) throw new ImageError(`${dir}: parent reference must be relative`);
    const p = resolve(dir, parent);
    const rel = relative(root, p);
    if (rel.startsWith('..') || rel.includes(sep) || rel === '') throw new ImageError(`${dir}: parent ${parent} points outside the images directory ${root}`);
    if (!existsSync(p)) throw new ImageError(`${dir}: parent ${parent} is missing; the chain is broken`);
    dir = realpathSync(p);
  }
  for (let i = 1; i < chain.length; i++) {
    if (chain[i].inventory.iteration !== chain[i - 1].inventory.iteration + 1)
      throw new ImageError(`${chain[i].dir}: parent is iteration ${chain[i - 1].inventory.iteration}, expected ${chain[i].inventory.iteration - 1}`);
  }
  return chain;
}

export type IterationSummary = Pick<
  IterationStats,
  'iteration' | 'type' | 'pages_scanned' | 'pages_skipped_parent' | 'pages_written' | 'pages_zero' | 'bytes_written' | 'frozen_time'
> & {
  /** The directory's name inside the images root. */
  dir: string;
  files: FileSizes;
  bytes_on_disk: number;
  /** Page bytes in pages.img (compressed size with --compress) and bytes_written over it. */
  bytes_stored: number;
  compression_ratio: number;
  /** Disk blocks allocated to the images (holes left by dedup are not). */
  bytes_allocated: number;
};

export interface ChainStats {
  images_dir: string;
  kernel: string;
  workload: { model: string; source: string; seed: number };
  iterations: IterationSummary[];
  totals: {
    pages_scanned: number;
    pages_skipped_parent: number;
    pages_written: number;
    bytes_written: number;
    bytes_stored: number;
    compression_ratio: number;
    frozen_time: number;
    files: Record<ImageKind, number>;
    bytes_on_disk: number;
    bytes_allocated: number;
  };
  /** Frozen time of the last iteration: the downtime estimate when it is the final dump. */
  final_frozen_time: number;
  final_type: 'pre-dump' | 'dump';
}

export function summarizeChain(chain: ChainIteration[], imagesDir: string): ChainStats {
  const iterations = chain.map((c): IterationSummary => ({
    iteration: c.inventory.iteration,
    dir: basename(c.dir),
    type: c.inventory.type,
    pages_scanned: c.stats.pages_scanned,
    pages_skipped_parent: c.stats.pages_skipped_parent,
    pages_written: c.stats.pages_written,
    pages_zero: c.stats.pages_zero,
    bytes_written: c.stats.bytes_written,
    frozen_time: c.stats.frozen_time,
    files: c.files,
    bytes_on_disk: IMAGE_KINDS.reduce((a, k) => a + (c.files[k] ?? 0), 0),
    bytes_stored: linkBytes(c.stats),
    compression_ratio: compressionRatio(c.stats.bytes_written, linkBytes(c.stats)),
    bytes_allocated: c.bytes_allocated,
  }));
  const sum = (f: (s: IterationSummary) => number) => iterations.reduce((a, s) => a + f(s), 0);
  const files = {} as Record<ImageKind, number>;
  for (const k of IMAGE_KINDS) files[k] = sum((s) => s.files[k] ?? 0);
  const last = chain[chain.length - 1];
  const w = last.inventory.workload;
  return {
    images_dir: imagesDir,
    kernel: last.inventory.kernel,
    workload: { model: String(w?.model), source: String(w?.source), seed: Number(w?.seed) },
    iterations,
    totals: {
      pages_scanned: sum((s) => s.pages_scanned),
      pages_skipped_parent: sum((s) => s.pages_skipped_parent),
      pages_written: sum((s) => s.pages_written),
      bytes_written: sum((s) => s.bytes_written),
      bytes_stored: sum((s) => s.bytes_stored),
      compression_ratio: compressionRatio(sum((s) => s.bytes_written), sum((s) => s.bytes_stored)),
      frozen_time: sum((s) => s.frozen_time),
      files,
      bytes_on_disk: sum((s) => s.bytes_on_disk),
      bytes_allocated: sum((s) => s.bytes_allocated),
    },
    final_frozen_time: last.stats.frozen_time,
    final_type: last.inventory.type,
  };
}

/** Summary of the chain a path names (images root or DIR/N). */
export function chainStats(path: string): ChainStats {
  return summarizeChain(walkChain(path), path);
}
