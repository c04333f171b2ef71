import { type PageAlloc, synthesizePage } from './page-alloc.js';
import { PAGE_SIZE } from './pgtable-types.js';

const SLOTS_PER_CHUNK = 512;

/**
 * A swap device (zram-like, in memory). swap_map counts the references to each slot: swap ptes
 * (fork duplicates them) and shmem files. Slot 0 holds the swap header, as on a real device, so
 * no swap entry is ever all zero bits.
 */
export class SwapDevice {
  readonly type = 0;
  readonly nrSlots: number;
  readonly swapMap: Int32Array;
  /** PFN of the page cached for a slot (the swap cache), or -1. */
  readonly cache: Int32Array;
  private readonly chunks: Uint8Array[] = [];
  /** Token memory model: the content token each slot holds (no bytes); null with content memory. */
  private tokens: Uint32Array | null = null;
  private free: Int32Array;
  private nrFree = 0;
  private next = 1;
  inUse = 0;

  constructor(bytes: number) {
    this.nrSlots = Math.max(2, Math.floor(bytes / PAGE_SIZE));
    this.swapMap = new Int32Array(this.nrSlots);
    this.cache = new Int32Array(this.nrSlots).fill(-1);
    this.free = new Int32Array(this.nrSlots);
  }

  /** A slot holding a copy of frame `pfn`'s contents, with one reference; -1 when the device is full. */
  alloc(mem: PageAlloc, pfn: number): number {
    let slot: number;
    if (this.nrFree > 0) slot = this.free[--this.nrFree];
    else if (this.next < this.nrSlots) slot = this.next++;
    else return -1;
    if (mem.tokens !== null) {
      this.tokens ??= new Uint32Array(this.nrSlots);
      this.tokens[slot] = mem.tokens[pfn];
    } else {
      const c = Math.floor(slot / SLOTS_PER_CHUNK);
      if (this.chunks[c] === undefined) this.chunks[c] = new Uint8Array(SLOTS_PER_CHUNK * PAGE_SIZE);
      this.chunks[c].set(mem.frame(pfn), (slot % SLOTS_PER_CHUNK) * PAGE_SIZE);
    }
    this.swapMap[slot] = 1;
    this.inUse++;
    return slot;
  }

  /** Copy slot's contents into frame `pfn` (swap-in). */
  readInto(slot: number, mem: PageAlloc, pfn: number): void {
    if (mem.tokens !== null) mem.tokens[pfn] = this.tokens![slot];
    else mem.frame(pfn).set(this.read(slot));
  }

  /**
   * The array holding slot's data, at byte (slot % 512) * 4096; with token memory, the slot's
   * page synthesised into `scratch` at that offset's page.
   */
  chunkOf(slot: number, scratch?: Uint8Array): Uint8Array {
    if (this.tokens !== null) return this.read(slot, scratch);
    return this.chunks[Math.floor(slot / SLOTS_PER_CHUNK)];
  }

  /** The slot's 4096 bytes (token memory: synthesised, into `scratch` when given). */
  read(slot: number, scratch?: Uint8Array): Uint8Array {
    if (this.tokens !== null) {
      const out = scratch ?? new Uint8Array(PAGE_SIZE);
      synthesizePage(this.tokens[slot], out, 0);
      return out;
    }
    const off = (slot % SLOTS_PER_CHUNK) * PAGE_SIZE;
    return this.chunks[Math.floor(slot / SLOTS_PER_CHUNK)].subarray(off, off + PAGE_SIZE);
  }

  /** swap_duplicate() */
  dup(slot: number): void {
    this.swapMap[slot]++;
  }

  /**
   * swap_free(): drop one reference. Returns the PFN that was in the swap cache for a slot that is
   * now free (the caller decides whether that page lives on), else -1.
   */
  put(slot: number): number {
    if (--this.swapMap[slot] > 0) return -1;
    const pfn = this.cache[slot];
    this.cache[slot] = -1;
    this.free[this.nrFree++] = slot;
    this.inUse--;
    return pfn;
  }
}
