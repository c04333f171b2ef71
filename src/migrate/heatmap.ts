/**
 * Which iteration dumped which page, from an image chain: for the report's heat map. Pages go
 * along one axis (the final dump's private VMAs end to end, gaps between them left out), in
 * buckets; per iteration, the pages of each bucket that its pagemap.img marks PE_PRESENT. Work
 * and memory follow the pagemap runs and the buckets, never the pages.
 */
import { join } from 'node:path';
import { IMAGE_FILES, readImage } from '../criu/image.js';
import { PE_PRESENT, type MmEntry, type PagemapImage } from '../criu/schema.js';

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
  const mm = readImage<MmEntry>(join(root, String(iterations), IMAGE_FILES.mm), 'mm');
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
  for (let it = 1; it <= iterations; it++) {
    const row = new Array<number>(buckets).fill(0);
    const pm = readImage<PagemapImage>(join(root, String(it), IMAGE_FILES.pagemap), 'pagemap');
    for (const e of pm.entries) {
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
    types.push(it === iterations ? 'dump' : 'pre-dump');
  }
  return { pages, pages_per_bucket: perBucket, counts, types };
}
