/**
 * What a run will cost in host memory, decided before it starts: a guest that cannot fit is
 * refused in one line, not after minutes of populating. Cost follows what is resident: per
 * resident page, the struct page words, the content token or the 4 KiB frame, and the pte
 * (figures from `npm run bench`, scale section: RSS over resident pages).
 */
import { totalmem } from 'node:os';
import { ResourceError } from '../errors.js';
import type { MemoryModel } from '../mm/page-alloc.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { workloadMemoryNeed } from '../workload/index.js';

/** Host bytes per resident page, by memory model (measured, rounded up). */
export const RSS_PER_PAGE: Record<MemoryModel, number> = { content: PAGE_SIZE + 40, token: 40 };
/** Node, tracker and a small machine's tables. */
export const RSS_BASE = 160 * 1024 * 1024;

/** Estimated peak RSS of `runs` machines at once, each with `bytes` of resident guest memory. */
export function estimateRss(bytes: number, model: MemoryModel, runs = 1): number {
  return RSS_BASE + runs * (bytes / PAGE_SIZE) * RSS_PER_PAGE[model];
}

function gib(n: number): string {
  return `${(n / 1024 ** 3).toFixed(n < 10 * 1024 ** 3 ? 1 : 0)} GiB`;
}

/**
 * Refuse a workload whose resident memory, in `runs` machines at once, cannot fit this machine's
 * memory. Only large guests (models that say how much memory they need) are checked.
 */
export function checkFits(workload: string, overrides: Record<string, unknown>, model: MemoryModel, runs = 1, machine = totalmem()): void {
  const need = workloadMemoryNeed(workload, overrides);
  if (need === null) return;
  const rss = estimateRss(need, model, runs);
  if (rss <= machine * 0.9) return;
  const hint = model === 'content' ? 'use --memory-model token (page bytes synthesised, 40 B a page)' : runs > 1 ? 'use fewer --jobs, or a smaller guest' : 'use a smaller guest';
  throw new ResourceError(`${workload}: ${gib(need)} of guest memory needs about ${gib(rss)} of RSS with --memory-model ${model}${runs > 1 ? ` in ${runs} parallel runs` : ''}, and this machine has ${gib(machine)}; ${hint}`);
}
