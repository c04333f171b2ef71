/**
 * `tracker stats`: a summary of a whole image chain (DIR/1 .. DIR/N): the stats and inventory of
 * each iteration and the sizes of its files. The chain is read through page-read with every check
 * restore makes, every pages.img checksum included: a chain restore would refuse is refused here.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ImageError, InputError } from '../errors.js';
import { IMAGE_FILES, kindOfMagic, readHeader, type ImageKind } from './image.js';
import { checkChain, IMAGE_KINDS, interruptedTmp, type ChainLink, type FileSizes } from './page-read.js';
import type { IterationStats } from './schema.js';

export { IMAGE_KINDS };

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The kind of an image file, by its magic; null for anything else (or a file shorter than a header). */
export function imageKindOf(path: string): ImageKind | null {
  let magic: number | null;
  try {
    magic = readHeader(path).magic;
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((e as NodeJS.ErrnoException).code)}`);
  }
  return magic === null ? null : kindOfMagic(magic);
}

/**
 * The final iteration directory a path names: DIR/N itself, or for an images root the largest
 * numbered iteration in it (the others are its parents).
 */
export function resolveIterationDir(path: string): string {
  const tmp = interruptedTmp(path);
  if (!existsSync(path) && tmp !== null) throw new ImageError(`${path}: this iteration was interrupted while being written (${tmp} is left); dump again`);
  if (!existsSync(path)) throw new InputError(`${path}: no such file or directory`);
  if (!isDir(path)) throw new InputError(`${path}: not a directory (expected an images root or an iteration DIR/N)`);
  if (existsSync(join(path, IMAGE_FILES.inventory))) return path;
  const numbered = readdirSync(path)
    .filter((e) => /^\d+$/.test(e) && isDir(join(path, e)))
    .map(Number)
    .sort((a, b) => a - b);
  // An iteration directory that lost its inventory: page-read names what is missing.
  if (numbered.length === 0 && /^\d+$/.test(basename(path))) return path;
  if (numbered.length === 0) throw new ImageError(`${path}: holds no iterations (no inventory.img and no numbered directories); is it an images directory?`);
  // A dump interrupted after its last complete iteration left a chain without its head.
  const last = numbered[numbered.length - 1];
  const later = readdirSync(path).filter((e) => /^\.\d+\.tmp$/.test(e) && Number(e.slice(1, -4)) > last);
  if (later.length > 0) throw new ImageError(`${join(path, later[0])}: iteration ${later[0].slice(1, -4)} was interrupted while being written, after iteration ${last}; dump again`);
  return join(path, String(last));
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

/** Disk blocks the iteration's images occupy (st_blocks): fewer than their sizes once deduped. */
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

export function summarizeChain(chain: ChainLink[], imagesDir: string): ChainStats {
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
    bytes_allocated: allocatedBytes(c.dir),
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
  return summarizeChain(checkChain(resolveIterationDir(path)).links, path);
}
