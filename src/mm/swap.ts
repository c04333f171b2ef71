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

  /** A slot holding a copy of `data`, with one reference; -1 when the device is full. */
  alloc(data: Uint8Array): number {
    let slot: number;
    if (this.nrFree > 0) slot = this.free[--this.nrFree];
    else if (this.next < this.nrSlots) slot = this.next++;
    else return -1;
    const c = Math.floor(slot / SLOTS_PER_CHUNK);
    if (this.chunks[c] === undefined) this.chunks[c] = new Uint8Array(SLOTS_PER_CHUNK * PAGE_SIZE);
    this.chunks[c].set(data, (slot % SLOTS_PER_CHUNK) * PAGE_SIZE);
    this.swapMap[slot] = 1;
    this.inUse++;
    return slot;
  }

  /** The array holding slot's data, at byte (slot % 512) * 4096. */
  chunkOf(slot: number): Uint8Array {
    return this.chunks[Math.floor(slot / SLOTS_PER_CHUNK)];
  }

  read(slot: number): Uint8Array {
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
