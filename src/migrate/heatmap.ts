/**
 * Which iteration dumped which page, from an image chain: for the report's heat map. Pages go
 * along one axis (the final dump's private VMAs end to end, gaps between them left out), in
 * buckets; per iteration, the pages of each bucket that its pagemap.img marks PE_PRESENT. Work
 * and memory follow the pagemap runs and the buckets, never the pages. The chain is read through
 * page-read, as every reader of images does.
 */
import { join } from 'node:path';
import { ImageError } from '../errors.js';
import { openChain } from '../criu/page-read.js';
import { PE_PRESENT } from '../criu/schema.js';
import type { MmEntry, PagemapEntry } from '../criu/schema.js';

export interface HeatMap {
  /** Pages along the axis. */
  pages: number;
  pages_per_bucket: number;
  /** counts[i][b]: pages of bucket b that iteration i + 1 dumped. */
  counts: number[][];
  /** Iteration types, in order. */
  types: ('pre-dump' | 'dump')[];
}

export function heatMapFromImages(root: string, iterations: number, maxBuckets = 160): HeatMap {
  const chain = openChain(join(root, String(iterations)));
  if (chain.dump === null) throw new ImageError(`${root}/${iterations}: is a pre-dump; the heat map needs the final dump`);
  return heatMap(chain.dump.mm, chain.links.map((l) => l.entries), maxBuckets);
}

/** The heat map of an iteration chain: the final dump's mm image and each iteration's pagemap. */
export function heatMap(mm: MmEntry, pagemaps: readonly (readonly PagemapEntry[])[], maxBuckets = 160): HeatMap {
  const vmas = mm.vmas.filter((v) => v.kind !== 'shared').map((v) => ({ start: v.start, end: v.end }));
  const offsets: number[] = [];
  let pages = 0;
  for (const v of vmas) {
    offsets.push(pages);
    pages += v.end - v.start;
  }
  const perBucket = Math.max(1, Math.ceil(pages / maxBuckets));
  const buckets = Math.max(1, Math.ceil(pages / perBucket));
  const counts: number[][] = [];
  const types: ('pre-dump' | 'dump')[] = [];
  for (let it = 1; it <= pagemaps.length; it++) {
    const row = new Array<number>(buckets).fill(0);
    for (const e of pagemaps[it - 1]) {
      if ((e.flags & PE_PRESENT) === 0) continue;
      // Clip the run to each VMA it overlaps (a later unmap may have removed some of it).
      for (let i = 0; i < vmas.length; i++) {
        const from = Math.max(e.vaddr, vmas[i].start);
        const to = Math.min(e.vaddr + e.nr_pages, vmas[i].end);
        if (from >= to) continue;
        let a = offsets[i] + from - vmas[i].start;
        const b = offsets[i] + to - vmas[i].start;
        while (a < b) {
          const bucket = Math.floor(a / perBucket);
          const end = Math.min(b, (bucket + 1) * perBucket);
          row[bucket] += end - a;
          a = end;
        }
      }
    }
    counts.push(row);
    types.push(it === pagemaps.length ? 'dump' : 'pre-dump');
  }
  return { pages, pages_per_bucket: perBucket, counts, types };
}
