/**
 * MMU benchmarks on a 1 GiB resident emulated process. Each figure is measured next to a raw
 * typed-array loop doing the same number of stores in the same run, so the ratio stays meaningful
 * on a noisy machine.
 */
import { Kernel } from '../mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { readPagemap } from '../proc/pagemap.js';

export interface MmuBench {
  resident_pages: number;
  write_hit_per_s: number;
  write_hit_baseline_per_s: number;
  write_fault_per_s: number;
  clear_refs_ms_per_1M_pages: number;
  pagemap_read_ms_per_1M_pages: number;
  rss_bytes_per_resident_page: number;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function benchMmu(residentBytes = 1024 * 1024 * 1024): MmuBench {
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  const kernel = new Kernel();
  const task = kernel.spawn('bench');
  const mm = task.mm;
  const pages = residentBytes / PAGE_SIZE;
  const start = mmap(mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  const base = start * PAGE_SIZE;
  for (let p = 0; p < pages; p++) mm.write8(base + p * PAGE_SIZE, p & 255);
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss - rssBefore;

  // Stores to present, writable pages: every 64th byte of each page, as a memset by cache lines.
  const STRIDE = 64;
  const storesPerPage = PAGE_SIZE / STRIDE;
  const hitPages = Math.min(pages, 65536);
  let t0 = process.hrtime.bigint();
  for (let round = 0; round < 4; round++) {
    for (let p = 0; p < hitPages; p++) {
      const a = base + p * PAGE_SIZE;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) mm.write8(a + o, round);
    }
  }
  const hitStores = 4 * hitPages * storesPerPage;
  const writeHit = hitStores / seconds(t0);

  const raw = new Uint8Array(hitPages * PAGE_SIZE);
  t0 = process.hrtime.bigint();
  for (let round = 0; round < 4; round++) {
    for (let p = 0; p < hitPages; p++) {
      const a = p * PAGE_SIZE;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) raw[a + o] = round;
    }
  }
  const baseline = hitStores / seconds(t0);

  // clear_refs 4 over everything, then one store per page: each takes the soft-dirty fault.
  t0 = process.hrtime.bigint();
  clearRefsWrite(mm, '4');
  const clearMs = seconds(t0) * 1000;
  t0 = process.hrtime.bigint();
  for (let p = 0; p < pages; p++) mm.write8(base + p * PAGE_SIZE + 8, 1);
  const faultRate = pages / seconds(t0);
  if (mm.counters.softDirtyFaults < pages) throw new Error('bench: stores after clear_refs did not all fault');

  const words = new Uint32Array(pages * 2);
  t0 = process.hrtime.bigint();
  readPagemap(mm, start, pages, words);
  const pagemapMs = seconds(t0) * 1000;

  const per1M = 1_048_576 / pages;
  return {
    resident_pages: pages,
    write_hit_per_s: Math.round(writeHit),
    write_hit_baseline_per_s: Math.round(baseline),
    write_fault_per_s: Math.round(faultRate),
    clear_refs_ms_per_1M_pages: +(clearMs * per1M).toFixed(2),
    pagemap_read_ms_per_1M_pages: +(pagemapMs * per1M).toFixed(2),
    rss_bytes_per_resident_page: Math.round(rss / pages),
  };
}
