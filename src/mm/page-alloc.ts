import { HPAGE_PMD_NR, PAGE_SIZE } from './pgtable-types.js';

/**
 * Emulated physical memory: 4 KiB frames grouped in 2 MiB chunks. A THP takes a whole chunk, which
 * keeps its frames 512-aligned as the kernel's are. Two memory models hold the frames' contents:
 *
 *   content  each chunk is one Uint8Array, allocated the first time a frame in it is handed out, so
 *            Node pays 4 KiB for each resident page and nothing for the rest. Loads and stores see
 *            real bytes.
 *   token    no bytes at all: each frame carries a 32-bit content token (tokens[pfn]). 0 is a page
 *            of zeros, 1..255 a page filled with that byte (tmpfs patterns); a store through a new
 *            write translation (the first write after a fault or a TLB flush, so at least once
 *            between two clear_refs) gives the frame the next token of a per-machine sequence.
 *            Page bytes are synthesised from the token (synthesizePage) wherever bytes are needed
 *            (pages.img, show --pages, the memory digest), so images are exact and deterministic;
 *            loads return unspecified bytes. A resident page costs its struct page words and pte.
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

/**
 * The most frames tracker emulates: 4 TiB. A pte keeps the PFN as x86 does in bits 12..51: bits
 * 0..19 of the PFN in the low word, the rest in bits 0..19 of the high word (pgtable-types.ts);
 * the bound is the largest typed array of Int32 a Node process can have.
 */
export const MAX_FRAMES = 1 << 30;

export type MemoryModel = 'content' | 'token';
export const MEMORY_MODELS: readonly MemoryModel[] = ['content', 'token'];

/** The first token of the write sequence: lower ones are zeros and fill patterns. */
const FIRST_WRITE_TOKEN = 256;

/**
 * The 4096 bytes of a frame holding `token`, into `out` at `offset`: zeros, a fill byte, or an
 * xorshift32 stream seeded by the token (never all zeros).
 */
export function synthesizePage(token: number, out: Uint8Array, offset: number): void {
  if (token < FIRST_WRITE_TOKEN) {
    out.fill(token, offset, offset + PAGE_SIZE);
    return;
  }
  const w = new DataView(out.buffer, out.byteOffset + offset, PAGE_SIZE);
  let x = (token ^ 0x9e3779b9) | 0;
  if (x === 0) x = 1;
  for (let i = 0; i < PAGE_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w.setInt32(i, x, true);
  }
}

export class OutOfMemory extends Error {
  constructor() {
    super('emulated physical memory exhausted');
    this.name = 'OutOfMemory';
  }
}

export class PageAlloc {
  readonly maxFrames: number;
  readonly model: MemoryModel;
  /** content model: the chunks of frame bytes (empty in the token model). */
  readonly chunks: Uint8Array[] = [];
  /** token model: each frame's content token (null in the content model). */
  readonly tokens: Uint32Array | null;
  /** token model: the next token a write hands out. */
  private nextToken = FIRST_WRITE_TOKEN;
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
  private readonly reservedFrames: number;
  nrUsed = 0;

  /** PFN of the 4 KiB zero page, and the first of the 512 frames of the huge zero page. */
  readonly zeroPfn: number;
  readonly hugeZeroPfn: number;

  /**
   * `reservedBytes` of physical memory after the zero pages are never handed out (a firmware hole,
   * as below 4 GiB on a PC): every frame then has a PFN beyond it.
   */
  constructor(memoryBytes: number, model: MemoryModel = 'content', reservedBytes = 0) {
    const frames = Math.floor(memoryBytes / PAGE_SIZE);
    const reserved = Math.ceil(reservedBytes / CHUNK_BYTES);
    if (!(frames >= 2 * FRAMES_PER_CHUNK) || frames + reserved * FRAMES_PER_CHUNK > MAX_FRAMES - 2 * FRAMES_PER_CHUNK) {
      throw new RangeError(`emulated memory must be between 4 MiB and 4 TiB, got ${memoryBytes} bytes`);
    }
    this.model = model;
    this.reservedFrames = reserved * FRAMES_PER_CHUNK;
    // Two chunks are reserved: the huge zero page and the chunk holding the zero page.
    this.maxChunks = Math.ceil(frames / FRAMES_PER_CHUNK) + 2 + reserved;
    this.tokens = model === 'token' ? new Uint32Array(this.maxChunks * FRAMES_PER_CHUNK) : null;
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
    this.nrUsed = 0;
    if (reserved > 0) {
      this.nextChunk += reserved;
      return;
    }
    for (let i = FRAMES_PER_CHUNK - 1; i >= 1; i--) {
      this.flags[this.zeroPfn + i] = PG_clean;
      this.freeFrames[this.nrFree++] = this.zeroPfn + i;
    }
  }

  /** Usable frames, not counting the two reserved chunks. */
  get totalFrames(): number {
    return this.maxFrames - 2 * FRAMES_PER_CHUNK - this.reservedFrames;
  }

  /**
   * A whole free chunk, zero-filled: a new one is zero already (and untouched, so the host has not
   * committed it); a recycled one is cleared.
   */
  private takeChunk(): number {
    let c: number;
    const tokens = this.tokens;
    if (this.freeChunks.length > 0) {
      c = this.freeChunks.pop()!;
      if (tokens !== null) tokens.fill(0, c * FRAMES_PER_CHUNK, (c + 1) * FRAMES_PER_CHUNK);
      else this.chunks[c].fill(0);
    } else if (this.nextChunk < this.maxChunks) {
      c = this.nextChunk++;
      if (tokens === null) this.chunks[c] = new Uint8Array(CHUNK_BYTES);
    } else return -1;
    return c;
  }

  /** One zero-filled 4 KiB frame; -1 when memory is exhausted. */
  allocFrame(pageFlags: number): number {
    let pfn: number;
    if (this.nrFree > 0) {
      pfn = this.freeFrames[--this.nrFree];
      if ((this.flags[pfn] & PG_clean) === 0) {
        if (this.tokens !== null) this.tokens[pfn] = 0;
        else this.chunks[pfn >>> 9].fill(0, (pfn & 511) << 12, ((pfn & 511) + 1) << 12);
      }
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

  /**
   * The 4096 bytes of a frame: a view of the frame (content model), or a page synthesised from its
   * token into `scratch` when given, else into a new array (token model). Do not modify.
   */
  frame(pfn: number, scratch?: Uint8Array): Uint8Array {
    if (this.tokens !== null) {
      const out = scratch ?? new Uint8Array(PAGE_SIZE);
      synthesizePage(this.tokens[pfn], out, 0);
      return out;
    }
    const off = (pfn & 511) << 12;
    return this.chunks[pfn >>> 9].subarray(off, off + PAGE_SIZE);
  }

  /** Fill a frame with one byte (tmpfs patterns). */
  fillFrame(pfn: number, byte: number): void {
    if (this.tokens !== null) this.tokens[pfn] = byte;
    else this.frame(pfn).fill(byte);
  }

  /** The frame is written through a new write translation: in the token model, new contents. */
  touch(pfn: number): void {
    const t = this.tokens;
    if (t === null) return;
    t[pfn] = this.nextToken;
    this.nextToken = this.nextToken === 0xffffffff ? FIRST_WRITE_TOKEN : this.nextToken + 1;
  }

  /** The frame holds nothing but zeros. */
  isZeroFilled(pfn: number): boolean {
    if (this.tokens !== null) return this.tokens[pfn] === 0;
    const page = this.frame(pfn);
    const w = new Int32Array(page.buffer, page.byteOffset, page.length >> 2);
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
    return true;
  }

  copyFrame(dst: number, src: number): void {
    if (this.tokens !== null) {
      this.tokens[dst] = this.tokens[src];
      return;
    }
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
