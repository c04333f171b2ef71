/** Options of the image writers shared by `dump` and `pre-dump`: compression and dedup. */
import { InvalidArgumentError, type Command } from 'commander';
import { checkRegionSize, DEFAULT_COMPRESS_REGION } from '../criu/page-compress.js';
import { UsageError } from '../errors.js';
import { parseBytes } from './units.js';

export interface ImageFlags {
  compress: boolean;
  compressRegion?: number;
  autoDedup: boolean;
}

function regionSize(v: string): number {
  try {
    return checkRegionSize(parseBytes('--compress-region')(v));
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function addImageOptions(cmd: Command): Command {
  return cmd
    .option('--compress', 'compress page data with LZ4 in regions (pagemap.img records how; restore, show and stats read it)', false)
    .option('--compress-region <size>', `with --compress: raw bytes per compressed region, 4K..1M (default: ${DEFAULT_COMPRESS_REGION / 1024}K)`, regionSize)
    .option('--auto-dedup', "release a parent's copy of each page this iteration dumps again (a hole in the parent's pages.img)", false);
}

/** The library options for these flags. */
export function imageOptions(f: ImageFlags): { compressRegion: number; autoDedup: boolean } {
  if (f.compressRegion !== undefined && !f.compress) throw new UsageError('--compress-region goes with --compress');
  return { compressRegion: f.compress ? (f.compressRegion ?? DEFAULT_COMPRESS_REGION) : 0, autoDedup: f.autoDedup };
}
