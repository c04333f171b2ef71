import { HPAGE_PMD_NR, PAGE_SIZE } from './pgtable-types.js';

/**
 * Emulated physical memory: 4 KiB frames grouped in 2 MiB chunks, each chunk one Uint8Array that
 * is allocated the first time a frame in it is handed out, so Node only pays for what is resident.
 * A THP takes a whole chunk, which keeps its frames 512-aligned as the kernel's are.
 *
 * Per-frame metadata lives in typed arrays indexed by PFN (struct page, flattened):
 *   flags     PG_* bits below
 *   mapcount  how many ptes map the frame (the kernel's _mapcount + 1)
 *   compound  on a THP head: how many pmds map the whole THP (compound_mapcount)
 *   refs      on a THP head: mappings of any kind of any of its frames; the THP is freed at 0
 */
export const PG_anon = 1 << 0;
/** Page cache page of a shmem/tmpfs file (also what backs MAP_SHARED|MAP_ANONYMOUS). */
export const PG_shmem = 1 << 1;
/** Member of a compound transparent huge page. */
export const PG_thp = 1 << 2;
export const PG_head = 1 << 3;
export const PG_zero = 1 << 4;
/** Page is in the swap cache: an anon page swapped in whose swap slot is still referenced. */
export const PG_swapcache = 1 << 5;
/** MADV_FREE: reclaim may drop the page instead of swapping it while its pte is clean. */
export const PG_lazyfree = 1 << 6;
export const PG_used = 1 << 7;
/**
 * PageAnonExclusive: this anon page is known to be mapped only by this process (set on a new or
 * reused page, cleared when fork shares it). do_wp_page() reuses such a page without looking at
 * reference counts; a shared THP subpage without it is always copied.
 */
export const PG_anon_exclusive = 1 << 8;
/**
 * PG_dirty on an anon page: set when a dirty huge PMD is split (__split_huge_pmd_locked()) or a
 * dirty pte is unmapped for a THP split (try_to_migrate_one()), and passed to every subpage; cleared
 * by MADV_FREE. MADV_FREE leaves a dirty page alone while another process maps it.
 */
export const PG_dirty = 1 << 9;
/** A free frame known to hold zeros (never used since its chunk was zero-filled): allocated without clearing. */
const PG_clean = 1 << 10;

export const FRAMES_PER_CHUNK = HPAGE_PMD_NR;
const CHUNK_BYTES = FRAMES_PER_CHUNK * PAGE_SIZE;

/** The most frames a pte can name: the PFN field of the low word holds 20 bits. */
export const MAX_FRAMES = 1 << 20;

export class OutOfMemory extends Error {
  constructor() {
    super('emulated physical memory exhausted');
    this.name = 'OutOfMemory';
  }
}

export class PageAlloc {
  readonly maxFrames: number;
  readonly chunks: Uint8Array[] = [];
  readonly flags: Uint16Array;
  readonly mapcount: Int32Array;
  readonly compound: Int32Array;
  readonly refs: Int32Array;
  /** Swap slot an anon frame in the swap cache stands for (valid with PG_swapcache). */
  readonly swapSlot: Int32Array;
  /** Free single frames, a stack of PFNs. */
  private freeFrames: Int32Array;
  private nrFree = 0;
  /** Chunks whose every frame is free, by chunk number. */
  private freeChunks: number[] = [];
  private nextChunk = 0;
  private readonly maxChunks: number;
  nrUsed = 0;

  /** PFN of the 4 KiB zero page, and the first of the 512 frames of the huge zero page. */
  readonly zeroPfn: number;
  readonly hugeZeroPfn: number;

  constructor(memoryBytes: number) {
    const frames = Math.floor(memoryBytes / PAGE_SIZE);
    if (!(frames >= 2 * FRAMES_PER_CHUNK) || frames > MAX_FRAMES) {
      throw new RangeError(`emulated memory must be between 4 MiB and 4 GiB, got ${memoryBytes} bytes`);
    }
    // Two chunks are reserved: the huge zero page and the chunk holding the zero page.
    this.maxChunks = Math.ceil(frames / FRAMES_PER_CHUNK) + 2;
    this.maxFrames = this.maxChunks * FRAMES_PER_CHUNK;
    this.flags = new Uint16Array(this.maxFrames);
    this.mapcount = new Int32Array(this.maxFrames);
    this.compound = new Int32Array(this.maxFrames);
    this.refs = new Int32Array(this.maxFrames);
    this.swapSlot = new Int32Array(this.maxFrames);
    this.freeFrames = new Int32Array(this.maxFrames);
    this.hugeZeroPfn = this.takeChunk() * FRAMES_PER_CHUNK;
    for (let i = 0; i < FRAMES_PER_CHUNK; i++) this.flags[this.hugeZeroPfn + i] = PG_used | PG_zero | PG_thp;
    this.flags[this.hugeZeroPfn] |= PG_head;
    const zc = this.takeChunk();
    this.zeroPfn = zc * FRAMES_PER_CHUNK;
    this.flags[this.zeroPfn] = PG_used | PG_zero;
    for (let i = FRAMES_PER_CHUNK - 1; i >= 1; i--) {
      this.flags[this.zeroPfn + i] = PG_clean;
      this.freeFrames[this.nrFree++] = this.zeroPfn + i;
    }
    this.nrUsed = 0;
  }

  /** Usable frames, not counting the two reserved chunks. */
  get totalFrames(): number {
    return this.maxFrames - 2 * FRAMES_PER_CHUNK;
  }

  /**
   * A whole free chunk, zero-filled: a new one is zero already (and untouched, so the host has not
   * committed it); a recycled one is cleared.
   */
  private takeChunk(): number {
    let c: number;
    if (this.freeChunks.length > 0) {
      c = this.freeChunks.pop()!;
      this.chunks[c].fill(0);
    } else if (this.nextChunk < this.maxChunks) {
      c = this.nextChunk++;
      this.chunks[c] = new Uint8Array(CHUNK_BYTES);
    } else return -1;
    return c;
  }

  /** One zero-filled 4 KiB frame; -1 when memory is exhausted. */
  allocFrame(pageFlags: number): number {
    let pfn: number;
    if (this.nrFree > 0) {
      pfn = this.freeFrames[--this.nrFree];
      if ((this.flags[pfn] & PG_clean) === 0) this.chunks[pfn >>> 9].fill(0, (pfn & 511) << 12, ((pfn & 511) + 1) << 12);
    } else {
      const c = this.takeChunk();
      if (c < 0) return -1;
      pfn = c * FRAMES_PER_CHUNK;
      for (let i = FRAMES_PER_CHUNK - 1; i >= 1; i--) {
        this.flags[pfn + i] = PG_clean;
        this.freeFrames[this.nrFree++] = pfn + i;
      }
    }
    this.flags[pfn] = PG_used | pageFlags;
    this.mapcount[pfn] = 0;
    this.nrUsed++;
    return pfn;
  }

  /** A zero-filled, 512-aligned THP; -1 when no whole chunk is free. */
  allocHuge(): number {
    if (this.totalFrames - this.nrUsed < FRAMES_PER_CHUNK) return -1;
    const c = this.takeChunk();
    if (c < 0) return -1;
    const head = c * FRAMES_PER_CHUNK;
    for (let i = 0; i < FRAMES_PER_CHUNK; i++) {
      this.flags[head + i] = PG_used | PG_anon | PG_thp | PG_anon_exclusive;
      this.mapcount[head + i] = 0;
    }
    this.flags[head] |= PG_head;
    this.compound[head] = 0;
    this.refs[head] = 0;
    this.nrUsed += FRAMES_PER_CHUNK;
    return head;
  }

  freeFrame(pfn: number): void {
    this.flags[pfn] = 0;
    this.mapcount[pfn] = 0;
    this.freeFrames[this.nrFree++] = pfn;
    this.nrUsed--;
  }

  freeHuge(head: number): void {
    for (let i = 0; i < FRAMES_PER_CHUNK; i++) {
      this.flags[head + i] = 0;
      this.mapcount[head + i] = 0;
    }
    this.compound[head] = 0;
    this.refs[head] = 0;
    this.freeChunks.push(head / FRAMES_PER_CHUNK);
    this.nrUsed -= FRAMES_PER_CHUNK;
  }

  /** The 4096 bytes of a frame, as a view (no copy). */
  frame(pfn: number): Uint8Array {
    const off = (pfn & 511) << 12;
    return this.chunks[pfn >>> 9].subarray(off, off + PAGE_SIZE);
  }

  copyFrame(dst: number, src: number): void {
    const s = this.chunks[src >>> 9];
    const off = (src & 511) << 12;
    this.chunks[dst >>> 9].set(s.subarray(off, off + PAGE_SIZE), (dst & 511) << 12);
  }

  isZero(pfn: number): boolean {
    return (this.flags[pfn] & PG_zero) !== 0;
  }

  thpHead(pfn: number): number {
    return pfn - (pfn & 511);
  }

  /** page_mapcount(): pte mappings of this frame plus pmd mappings of its THP. */
  pageMapcount(pfn: number): number {
    const f = this.flags[pfn];
    if ((f & PG_thp) !== 0 && (f & PG_zero) === 0) return this.mapcount[pfn] + this.compound[pfn - (pfn & 511)];
    return this.mapcount[pfn];
  }

  /** One more pte maps this frame. */
  getPte(pfn: number): void {
    this.mapcount[pfn]++;
    if ((this.flags[pfn] & (PG_thp | PG_zero)) === PG_thp) this.refs[pfn - (pfn & 511)]++;
  }

  /**
   * One pte less maps this frame. Anonymous memory nobody maps any more is freed; page cache pages
   * stay with their file, zero pages are never freed.
   */
  putPte(pfn: number): void {
    const f = this.flags[pfn];
    if ((f & PG_zero) !== 0) return;
    this.mapcount[pfn]--;
    if ((f & PG_thp) !== 0) {
      const head = pfn - (pfn & 511);
      if (--this.refs[head] === 0) this.freeHuge(head);
      return;
    }
    if ((f & PG_anon) !== 0 && this.mapcount[pfn] === 0 && (f & PG_swapcache) === 0) this.freeFrame(pfn);
  }

  getPmd(head: number): void {
    if ((this.flags[head] & PG_zero) !== 0) return;
    this.compound[head]++;
    this.refs[head]++;
  }

  putPmd(head: number): void {
    if ((this.flags[head] & PG_zero) !== 0) return;
    this.compound[head]--;
    if (--this.refs[head] === 0) this.freeHuge(head);
  }
}
