/**
 * MMU benchmarks on a 1 GiB resident emulated process. Each figure is measured next to a raw
 * typed-array loop doing the same number of stores in the same run, so the ratio stays meaningful
 * on a noisy machine.
 */
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { readPagemap } from '../proc/pagemap.js';

export interface MmuBench {
  resident_pages: number;
  /** Stores through store8(vpn, offset): the page-number API workloads' hot loops can use. */
  write_hit_per_s: number;
  /** The same stores through write8(address), which divides a 44-bit address first. */
  write8_hit_per_s: number;
  write_hit_baseline_per_s: number;
  write_hit_ratio_to_baseline: number;
  write_fault_per_s: number;
  clear_refs_ms_per_1M_pages: number;
  pagemap_read_ms_per_1M_pages: number;
  rss_bytes_per_resident_page: number;
}

/** Its own function, so the JIT compiles this loop alone rather than inside benchMmu (OSR). */
function storeOnePerPage(mm: Mm, start: number, pages: number, value: number): void {
  for (let p = 0; p < pages; p++) mm.store8(start + p, 8, value);
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

  // Stores to present, writable pages: every 8th byte of each page, as a memset by words, over
  // 256 MiB. Each loop is timed per round and the best round counts (the first warms the JIT).
  const STRIDE = 8;
  const hitPages = Math.min(pages, 65536);
  const roundStores = hitPages * (PAGE_SIZE / STRIDE);
  const bestRate = (round: (r: number) => void): number => {
    let best = 0;
    for (let r = 0; r < 4; r++) {
      const t = process.hrtime.bigint();
      round(r);
      best = Math.max(best, roundStores / seconds(t));
    }
    return best;
  };
  const writeHit = bestRate((r) => {
    for (let p = 0; p < hitPages; p++) {
      const vpn = start + p;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) mm.store8(vpn, o, r);
    }
  });
  const write8Hit = bestRate((r) => {
    for (let p = 0; p < hitPages; p++) {
      const a = base + p * PAGE_SIZE;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) mm.write8(a + o, r);
    }
  });
  // The baseline pays no first-touch faults of the host: its memory is touched beforehand.
  const raw = new Uint8Array(hitPages * PAGE_SIZE).fill(1);
  const baseline = bestRate((r) => {
    for (let p = 0; p < hitPages; p++) {
      const a = p * PAGE_SIZE;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) raw[a + o] = r;
    }
  });

  let t0: bigint;
  // clear_refs 4 over everything, then one store per page: each takes the soft-dirty fault.
  t0 = process.hrtime.bigint();
  clearRefsWrite(mm, '4');
  let clearMs = seconds(t0) * 1000;
  // Rounds of clear_refs + one store per page; the first warms the JIT up, the best of 6 counts.
  let faultRate = 0;
  for (let round = 0; round < 6; round++) {
    if (round > 0) {
      t0 = process.hrtime.bigint();
      clearRefsWrite(mm, '4');
      clearMs = Math.min(clearMs, seconds(t0) * 1000);
    }
    const before = mm.counters.softDirtyFaults;
    t0 = process.hrtime.bigint();
    storeOnePerPage(mm, start, pages, round);
    faultRate = Math.max(faultRate, pages / seconds(t0));
    if (mm.counters.softDirtyFaults - before !== pages) throw new Error('bench: stores after clear_refs did not all fault');
  }

  // Best of 9 full reads: the first runs before the JIT has compiled the walk.
  const words = new Uint32Array(pages * 2);
  let pagemapMs = Infinity;
  for (let round = 0; round < 9; round++) {
    t0 = process.hrtime.bigint();
    readPagemap(mm, start, pages, words);
    pagemapMs = Math.min(pagemapMs, seconds(t0) * 1000);
  }

  const per1M = 1_048_576 / pages;
  return {
    resident_pages: pages,
    write_hit_per_s: Math.round(writeHit),
    write8_hit_per_s: Math.round(write8Hit),
    write_hit_baseline_per_s: Math.round(baseline),
    write_hit_ratio_to_baseline: +(writeHit / baseline).toFixed(3),
    write_fault_per_s: Math.round(faultRate),
    clear_refs_ms_per_1M_pages: +(clearMs * per1M).toFixed(2),
    pagemap_read_ms_per_1M_pages: +(pagemapMs * per1M).toFixed(2),
    rss_bytes_per_resident_page: Math.round(rss / pages),
  };
}
