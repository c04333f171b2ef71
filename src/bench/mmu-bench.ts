/**
 * MMU benchmarks. The access paths are measured next to a raw typed-array loop doing the same
 * accesses in alternating rounds (benchUniform, benchWriteHit); fault, clear_refs and pagemap
 * rates on a 1 GiB resident process are the best of several rounds.
 */
import { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { mmap, PROT_READ, PROT_WRITE } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { readPagemap } from '../proc/pagemap.js';
import { createWorkload } from '../workload/index.js';
import { probabilityThreshold, Sfc32 } from '../workload/prng.js';
import { alternate, compare, timed, type Compared } from './rounds.js';

export interface MmuBench {
  resident_pages: number;
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

  let t0: bigint;
  // clear_refs 4 over everything, then one store per page: each takes the soft-dirty fault.
  t0 = process.hrtime.bigint();
  clearRefsWrite(mm, '4');
  let clearMs = seconds(t0) * 1000;
  // Rounds of clear_refs + one store per page; the first warms the JIT up, the best of 4 counts.
  let faultRate = 0;
  for (let round = 0; round < 4; round++) {
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

  // Best of 5 full reads: the first runs before the JIT has compiled the walk.
  const words = new Uint32Array(pages * 2);
  let pagemapMs = Infinity;
  for (let round = 0; round < 5; round++) {
    t0 = process.hrtime.bigint();
    readPagemap(mm, start, pages, words);
    pagemapMs = Math.min(pagemapMs, seconds(t0) * 1000);
  }

  const per1M = 1_048_576 / pages;
  return {
    resident_pages: pages,
    write_fault_per_s: Math.round(faultRate),
    clear_refs_ms_per_1M_pages: +(clearMs * per1M).toFixed(2),
    pagemap_read_ms_per_1M_pages: +(pagemapMs * per1M).toFixed(2),
    rss_bytes_per_resident_page: Math.round(rss / pages),
  };
}

/** The uniform model's access loop (models/uniform.ts) on a plain Uint8Array: the same accesses without the MMU. */
function rawUniform(raw: Uint8Array, rng: Sfc32, heap: number, writeT: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const r1 = rng.next();
    const r2 = rng.next();
    const addr = Math.floor((r1 * heap) / 4294967296) * PAGE_SIZE + (r2 & 4095);
    if (r2 < writeT) raw[addr] = r2 >>> 24;
    else sum += raw[addr];
  }
  return sum;
}

/**
 * The uniform model writing over a 1 GiB heap (every access a store to a random page), next to
 * the same accesses on a Uint8Array of the same size in alternating rounds (both touched first).
 */
export function benchUniform(rounds: number, bytes = 1024 ** 3, accesses = 5_000_000): Compared {
  const heap = bytes / PAGE_SIZE;
  const p = createWorkload(new Kernel(), 'uniform', 1, { heap, writeFraction: 1 });
  p.run(heap + 16); // setup and populate
  p.run(accesses); // JIT warm-up
  const raw = new Uint8Array(bytes).fill(1);
  const rng = Sfc32.fromSeed(7);
  const writeT = probabilityThreshold(1);
  rawUniform(raw, rng, heap, writeT, accesses);
  const times = alternate(rounds, {
    mmu: () => timed(() => p.run(accesses)),
    raw: () => timed(() => rawUniform(raw, rng, heap, writeT, accesses)),
  });
  return compare(times, 'mmu', accesses, 'M/s');
}

/** Stores to present, writable pages (every 8th byte over 256 MiB) through store8, next to a raw loop. */
export function benchWriteHit(rounds: number, bytes = 256 * 1024 ** 2): Compared {
  const kernel = new Kernel();
  const mm = kernel.spawn('bench').mm;
  const pages = bytes / PAGE_SIZE;
  const start = mmap(mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let p = 0; p < pages; p++) mm.store8(start + p, 0, 1);
  const raw = new Uint8Array(bytes).fill(1);
  const STRIDE = 8;
  let v = 0;
  const mmLoop = () => {
    v = (v + 1) & 255;
    for (let p = 0; p < pages; p++) {
      const vpn = start + p;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) mm.store8(vpn, o, v);
    }
  };
  const rawLoop = () => {
    v = (v + 1) & 255;
    for (let p = 0; p < pages; p++) {
      const a = p * PAGE_SIZE;
      for (let o = 0; o < PAGE_SIZE; o += STRIDE) raw[a + o] = v;
    }
  };
  mmLoop();
  rawLoop();
  const times = alternate(rounds, { mmu: () => timed(mmLoop), raw: () => timed(rawLoop) });
  return compare(times, 'mmu', bytes / STRIDE, 'M/s');
}
