import { FAULT_OK, FAULT_SIGSEGV, type FaultResult } from './errno.js';
import type { KernelProfile } from './kernel-profile.js';
import type { PageAlloc } from './page-alloc.js';
import { PageSet } from './page-set.js';
import { PageTable } from './page-table.js';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_USER,
} from './pgtable-types.js';
import type { SwapDevice } from './swap.js';
import { canMergeAfter, canMergeBefore, isMergeableAnonVma, newAnonVmaId, VM_EXEC, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_UFFD_WP, VM_WRITE, Vma } from './vma.js';

/**
 * The fault handlers the MMU traps to, installed by the kernel (kernel.ts) as the kernel installs
 * its page-fault vector: the MMU below never imports the fault code above it (memory.ts,
 * huge-memory.ts), which takes an Mm.
 */
export interface FaultHandlers {
  /** handle_mm_fault() */
  handleMmFault(mm: Mm, vpn: number, write: boolean): FaultResult;
  /** do_wp_page(): a write to a present, write-protected pte. */
  doWpPage(mm: Mm, vma: Vma, slot: number): FaultResult;
  /** split_huge_pmd() of the huge PMD over vpn, if any (a VMA split there). */
  splitHugePmdAt(mm: Mm, vpn: number): void;
}

/** What an Mm needs of the machine it runs on (the Kernel, kernel.ts). */
export interface MmHost {
  readonly profile: KernelProfile;
  readonly mem: PageAlloc;
  readonly swap: SwapDevice;
  /** totalram_pages(), for the overcommit heuristic. */
  readonly totalramPages: number;
  /** Every task, for what reaches other address spaces (a shared file's pages, a THP's mappers). */
  readonly tasks: ReadonlyMap<number, { readonly mm: Mm }>;
  readonly faults: FaultHandlers;
}

/**
 * The software TLB: direct-mapped, 2^18 entries (1 GiB of 4 KiB pages) for reads and as many for
 * writes, one for the process, so no mm allocates, first-touches or clears a TLB of its own (the
 * tests make thousands of short-lived mms); what is never filled is never touched. An entry is 16
 * bytes, so a hit costs one cache line besides the access's own:
 *
 *   f64[2i]      tag: the vpn (whose low 18 bits are i); 0 (never written) or NaN if empty
 *   i32[4i+2]    chunk of the frame in Mm.frames (0 under token memory: the scratch page)
 *   i32[4i+3]    byte offset of the frame in its chunk
 *
 * Like a CPU without PCIDs, the TLB holds the translations of one mm, its owner (CR3); an access
 * by another mm misses, and its fill takes the TLB over, flushing the owner's entries first. A
 * flush clears the entries the owner filled since the last one (a list, as v86 keeps), or, past
 * TLB_FILL_LIST of them, every entry. A cleared entry is NaN, which no vpn equals (-1 would be hit
 * by vpn -1); only vpn 0 could match an untouched entry, so entry 0 starts NaN and vpn 0 is never
 * cached.
 */
const TLB_BITS = 18;
const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;
const TLB_FILL_LIST = 8192;
const W_TAGS = new Float64Array(TLB_SIZE * 2);
const W_WORDS = new Int32Array(W_TAGS.buffer);
const R_TAGS = new Float64Array(TLB_SIZE * 2);
const R_WORDS = new Int32Array(R_TAGS.buffer);
W_TAGS[0] = NaN;
R_TAGS[0] = NaN;
/**
 * Block entries: one translation for 64 neighbouring pages (256 KiB, aligned) whose 64 ptes are all
 * present, writable, accessed and dirty and map 64 neighbouring frames of one chunk, as a populated
 * heap is. Direct-mapped, 2^14 entries per direction (4 GiB), 16 bytes each as above, the tag the
 * block's first vpn, the offset that of its first frame. A uniform writer over 1 GiB needs 4,096 of
 * them (64 KiB, cached) where it needs 262,144 page entries (4 MiB, a cache miss per access).
 *
 * A block entry stands for 64 page entries a fill could have made, each allowing the write (and the
 * read); the kernel's flushes cover it: flush_tlb_page() of any of its pages drops it, and the fill
 * list of every flush holds it. It is filled only where page entries need nothing from a fill
 * (no truly written set, content memory), and checked from its last pte, then from its first up,
 * stopping at the first clean one: after clear_refs, a fault reads a few ptes, whatever order the
 * pages are written in. Entry 0 starts NaN, as block 0 is never cached.
 */
const BLOCK_SHIFT = 6;
const BLOCK_PAGES = 1 << BLOCK_SHIFT;
const BLOCK_LOW = BLOCK_PAGES - 1;
const BLOCK_BITS = 14;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;
const WB_TAGS = new Float64Array(2 << BLOCK_BITS);
const WB_WORDS = new Int32Array(WB_TAGS.buffer);
const RB_TAGS = new Float64Array(2 << BLOCK_BITS);
const RB_WORDS = new Int32Array(RB_TAGS.buffer);
WB_TAGS[0] = NaN;
RB_TAGS[0] = NaN;
/** What each of a block's ptes must have: _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY, and no _PAGE_PSE. */
const BLOCK_PTE = 0x63;
const BLOCK_PTE_MASK = 0xe3;
/** Block entries filled since the last flush (few: one per 64 pages), up to TLB_FILL_LIST; [-1] once there were more. */
const blockFills: number[] = [];

/**
 * TLB_OWNER[0]: the id of the mm whose translations the TLB holds. A typed array, as a module `let`
 * would cost a hole check and an object compare on every access; 128 bytes, so that V8 keeps it off
 * its heap and the JIT reads it at a fixed address.
 */
const TLB_OWNER = new Int32Array(32);
let nextTlbId = 1;
/** Entries the owner filled since the last flush, up to TLB_FILL_LIST; [-1] once there were more. */
const tlbFills: number[] = [];

function newTlbId(): number {
  if (nextTlbId === 0x7fffffff) throw new Error('mm.ts: more than 2^31 mms in one process');
  return nextTlbId++;
}

/** Forget every translation in the TLB (the owner's: nobody else has any). */
function flushAll(): void {
  if (blockFills.length !== 0) flushPair(blockFills, WB_TAGS, RB_TAGS);
  if (tlbFills.length !== 0) flushPair(tlbFills, W_TAGS, R_TAGS);
}

/** Clear the entries `fills` lists in a write and a read table, or every entry once the list overflowed. */
function flushPair(fills: number[], w: Float64Array, r: Float64Array): void {
  if (fills[0] === -1) {
    for (let k = 0; k < w.length; k += 2) {
      if (w[k] > 0) w[k] = NaN;
      if (r[k] > 0) r[k] = NaN;
    }
  } else {
    for (let j = 0; j < fills.length; j++) {
      const k = fills[j] << 1;
      w[k] = NaN;
      r[k] = NaN;
    }
  }
  fills.length = 0;
}

/** Token memory: where loads and stores of the TLB land (the bytes are not kept). */
const TOKEN_FRAMES = [new Uint8Array(4096)];
// Bits the access paths test, as module constants: the JIT folds these, not imported bindings.
const PRESENT = 0x1; // _PAGE_PRESENT
const ACCESSED = 0x20; // _PAGE_ACCESSED
const PSE = 0x80; // _PAGE_PSE
const PRESENT_RW = 0x3; // _PAGE_PRESENT | _PAGE_RW
const ACCESSED_DIRTY = 0x60; // _PAGE_ACCESSED | _PAGE_DIRTY
const RW_DIRTY = 0x42; // _PAGE_RW | _PAGE_DIRTY
const VMF_WRITE = 0x2; // VM_WRITE
if (
  PRESENT !== _PAGE_PRESENT ||
  ACCESSED !== _PAGE_ACCESSED ||
  PSE !== _PAGE_PSE ||
  PRESENT_RW !== (_PAGE_PRESENT | _PAGE_RW) ||
  ACCESSED_DIRTY !== (_PAGE_ACCESSED | _PAGE_DIRTY) ||
  RW_DIRTY !== (_PAGE_RW | _PAGE_DIRTY) ||
  VMF_WRITE !== VM_WRITE
) {
  throw new Error('mm.ts: local bit constants disagree with pgtable-types.ts / vma.ts');
}

/**
 * An mm_struct: the VMAs (sorted, non-overlapping) and the page table of one process, and the
 * memory accesses a CPU makes through them. An access the TLB knows is the fast path; a miss walks
 * the page table, and anything the entry does not allow goes through handleMmFault().
 */
export class Mm {
  readonly mem: PageAlloc;
  /** mem.chunks, one load closer. */
  private readonly chunks: Uint8Array[];
  /**
   * mem.chunks, or the scratch page under token memory: what a TLB entry's chunk indexes. `declare`,
   * so the constructor's store is the field's first and V8 keeps it constant.
   */
  private declare readonly frames: Uint8Array[];
  readonly swap: SwapDevice;
  readonly profile: KernelProfile;
  readonly pt = new PageTable();
  vmas: Vma[] = [];
  /** pte_mkdirty(): on x86 with CONFIG_MEM_SOFT_DIRTY it sets soft-dirty too. */
  readonly dirtyBits: number;
  /** _PAGE_SOFT_DIRTY, or 0 on a kernel without soft-dirty. */
  readonly softDirtyBit: number;
  /** VM_SOFTDIRTY, or 0 where the profile has no such flag. */
  readonly vmSoftDirty: number;
  /** Which mm owns the TLB (TLB_OWNER); an initializer, so V8 keeps the field constant. */
  private readonly tlbId = newTlbId();
  private tlbGeneration = 0;
  private walkKey = -1;
  private walkBase = 0;
  private walkGeneration = -1;
  private lastVma: Vma | null = null;
  /**
   * The truly written set, when someone asks (tracker plan --track): every page a store reached
   * since it was last reset. Writes reach the TLB fill before the fast path, so whoever resets it
   * flushes the TLB (resetWritten()).
   */
  written: PageSet | null = null;
  /** Counts of what the MMU did, for stats and benchmarks. */
  readonly counters = { faults: 0, softDirtyFaults: 0, cowFaults: 0, swapIns: 0, thpFaults: 0 };

  private readonly faults: FaultHandlers;

  constructor(readonly kernel: MmHost) {
    this.faults = kernel.faults;
    this.mem = kernel.mem;
    this.chunks = kernel.mem.chunks;
    this.frames = kernel.mem.tokens !== null ? TOKEN_FRAMES : kernel.mem.chunks;
    this.swap = kernel.swap;
    this.profile = kernel.profile;
    this.softDirtyBit = this.profile.softDirty ? _PAGE_SOFT_DIRTY : 0;
    this.dirtyBits = _PAGE_DIRTY | this.softDirtyBit;
    this.vmSoftDirty = this.profile.vmSoftDirty ? VM_SOFTDIRTY : 0;
  }

  // ---- memory accesses -------------------------------------------------------------------------

  /** Store one byte at a virtual address. Returns 0, or a negative fault code (see errno.ts). */
  write8(addr: number, value: number): FaultResult {
    return this.store8(Math.floor(addr / 4096), addr & 4095, value);
  }

  /**
   * Store one byte at byte `offset` of virtual page `vpn`: the same as write8(vpn * 4096 + offset),
   * for callers that keep page numbers. A hit is the owner compare, one tag compare (the block's,
   * then the page's) and the store. Small on purpose: a workload's loop inlines this and load8
   * within V8's cumulative inlining budget, or not at all.
   */
  store8(vpn: number, offset: number, value: number): FaultResult {
    if (TLB_OWNER[0] === this.tlbId) {
      const b = (vpn >>> BLOCK_SHIFT) & BLOCK_MASK;
      if (WB_TAGS[b << 1] === vpn - (vpn & BLOCK_LOW)) {
        this.frames[WB_WORDS[(b << 2) | 2]][(WB_WORDS[(b << 2) | 3] + ((vpn & BLOCK_LOW) << 12)) | offset] = value;
        return 0;
      }
      const i = vpn & TLB_MASK;
      if (W_TAGS[i << 1] === vpn) {
        this.frames[W_WORDS[(i << 2) | 2]][W_WORDS[(i << 2) | 3] | offset] = value;
        return 0;
      }
    }
    return this.accessSlow(vpn, offset, true, value);
  }

  /** Load one byte. Returns the byte (0..255), or a negative fault code. */
  read8(addr: number): number {
    return this.load8(Math.floor(addr / 4096), addr & 4095);
  }

  /** Load byte `offset` of page vpn. */
  load8(vpn: number, offset: number): number {
    if (TLB_OWNER[0] === this.tlbId) {
      const b = (vpn >>> BLOCK_SHIFT) & BLOCK_MASK;
      if (RB_TAGS[b << 1] === vpn - (vpn & BLOCK_LOW)) return this.frames[RB_WORDS[(b << 2) | 2]][(RB_WORDS[(b << 2) | 3] + ((vpn & BLOCK_LOW) << 12)) | offset];
      const i = vpn & TLB_MASK;
      if (R_TAGS[i << 1] === vpn) return this.frames[R_WORDS[(i << 2) | 2]][R_WORDS[(i << 2) | 3] | offset];
    }
    return this.accessSlow(vpn, offset, false, 0);
  }

  /**
   * TLB miss: walk the page table as the CPU does, setting accessed (and, for a write, dirty) in the
   * entry, fault if the entry does not allow the access, and fill the TLB. Like an x86 TLB, a write
   * translation is cached only once the entry is writable and dirty, so the fast path never has to
   * touch the page table; whoever takes permissions away flushes (flushTlb), as the kernel does.
   *
   * One function, walk and fill together, on purpose: V8 inlines a callee of up to 460 bytes of
   * bytecode, and this one inlined would make store8 too big to be inlined into the caller's loop.
   */
  private accessSlow(vpn: number, offset: number, write: boolean, value: number): number {
    const need = write ? PRESENT_RW : PRESENT;
    let slot = -1;
    for (let attempt = 0; ; attempt++) {
      if (attempt === 4) throw new Error(`page fault at page ${vpn} did not resolve`);
      if (this.pt.generation !== this.tlbGeneration) this.flushTlb();
      slot = this.leafSlot(vpn);
      if (slot >= 0) {
        const e = this.pt.lo[slot];
        if ((e & need) === need) break;
        // The soft-dirty fast path: a write to a present, write-protected pte is resolved on the
        // entry already found, without a second walk.
        if (write && (e & (PRESENT | PSE)) === PRESENT) {
          const vma = this.findVma(vpn);
          if (vma === null || (vma.flags & VMF_WRITE) === 0) return FAULT_SIGSEGV;
          this.counters.faults++;
          const r = this.faults.doWpPage(this, vma, slot);
          if (r !== FAULT_OK) return r;
          // The fill below rewrites both TLB entries of vpn, so a copied frame cannot stay cached.
          break;
        }
      }
      const r = this.faults.handleMmFault(this, vpn, write);
      if (r !== FAULT_OK) return r;
      // The fault may have replaced the frame (COW): drop what the TLB knew about this page.
      this.flushTlbPage(vpn);
    }

    // The entry at `slot` allows the access: set accessed/dirty as the CPU does, fill the TLB, access.
    const lo = this.pt.lo;
    const e = lo[slot];
    const ne = e | (write ? ACCESSED_DIRTY : ACCESSED);
    if (ne !== e) lo[slot] = ne;
    const pfn = ((e >>> 12) | (this.pt.hi[slot] << 20)) + ((e & PSE) !== 0 ? vpn & 511 : 0);
    let chunk = pfn >>> 9;
    let base = (pfn & 511) << 12;
    if (this.mem.tokens !== null) {
      // Token memory: a write through a new translation gives the frame new contents.
      if (write) this.mem.touch(pfn);
      chunk = 0;
      base = 0;
    }
    if (write && this.written !== null) this.written.add(vpn);
    // vpn 0 is never cached: it is the one vpn an untouched (zero) entry would match.
    if (vpn !== 0) {
      if (TLB_OWNER[0] !== this.tlbId) {
        flushAll();
        TLB_OWNER[0] = this.tlbId;
      }
      const i = vpn & TLB_MASK;
      if (tlbFills.length < TLB_FILL_LIST) tlbFills.push(i);
      else if (tlbFills[0] !== -1) tlbFills[0] = -1;
      R_TAGS[i << 1] = vpn;
      R_WORDS[(i << 2) | 2] = chunk;
      R_WORDS[(i << 2) | 3] = base;
      if ((ne & RW_DIRTY) === RW_DIRTY) {
        W_TAGS[i << 1] = vpn;
        W_WORDS[(i << 2) | 2] = chunk;
        W_WORDS[(i << 2) | 3] = base;
        // fillBlock's first test, here, where it fails for most faults: the block's last pte.
        if (((ne & PSE) !== 0 || (lo[slot - (vpn & BLOCK_LOW) + BLOCK_LOW] & BLOCK_PTE_MASK) === BLOCK_PTE) && this.written === null && this.mem.tokens === null) {
          this.fillBlock(vpn, slot);
        }
      } else if (W_TAGS[i << 1] === vpn) W_TAGS[i << 1] = NaN;
    }
    const frame = this.frames[chunk];
    const at = base | offset;
    if (!write) return frame[at];
    frame[at] = value;
    return FAULT_OK;
  }

  /** The block entries of vpn's 64 pages, if their ptes (or huge pmd) allow it (see BLOCK_SHIFT). */
  private fillBlock(vpn: number, slot: number): void {
    const first = vpn - (vpn & BLOCK_LOW);
    if (first === 0) return;
    const lo = this.pt.lo;
    const hi = this.pt.hi;
    const e = lo[slot];
    let pfn0: number;
    if ((e & PSE) !== 0) {
      if ((e & BLOCK_PTE) !== BLOCK_PTE) return;
      pfn0 = ((e >>> 12) | (hi[slot] << 20)) + (first & 511);
    } else {
      // The last pte first: pages written in address order (populate, a sequential writer) leave
      // it clean until the block is whole, so each of their faults reads one pte, not up to 64.
      const s0 = slot - (vpn & BLOCK_LOW);
      const z = s0 + BLOCK_LOW;
      const y = lo[z];
      if ((y & BLOCK_PTE_MASK) !== BLOCK_PTE) return;
      pfn0 = ((y >>> 12) | (hi[z] << 20)) - BLOCK_LOW;
      if ((pfn0 & 511) > 512 - BLOCK_PAGES) return;
      for (let k = 0; k < BLOCK_LOW; k++) {
        const x = lo[s0 + k];
        if ((x & BLOCK_PTE_MASK) !== BLOCK_PTE || ((x >>> 12) | (hi[s0 + k] << 20)) !== pfn0 + k) return;
      }
    }
    const b = (vpn >>> BLOCK_SHIFT) & BLOCK_MASK;
    if (blockFills.length < TLB_FILL_LIST) blockFills.push(b);
    else if (blockFills[0] !== -1) blockFills[0] = -1;
    WB_TAGS[b << 1] = first;
    WB_WORDS[(b << 2) | 2] = pfn0 >>> 9;
    WB_WORDS[(b << 2) | 3] = (pfn0 & 511) << 12;
    RB_TAGS[b << 1] = first;
    RB_WORDS[(b << 2) | 2] = pfn0 >>> 9;
    RB_WORDS[(b << 2) | 3] = (pfn0 & 511) << 12;
  }

  /** Slot of the pte, or of the huge pmd, that maps vpn; -1 if no table leads there. No side effects. */
  leafSlot(vpn: number): number {
    // Faults come in runs over one pte table: remember the last table walked to.
    const key = Math.floor(vpn / 512);
    if (key === this.walkKey && this.walkGeneration === this.pt.generation) return this.walkBase | (vpn & 511);
    const pmd = this.pt.pmdSlot(vpn, false);
    if (pmd < 0) return -1;
    const e = this.pt.lo[pmd];
    if (e === 0) return -1;
    if ((e & _PAGE_PSE) !== 0) return pmd;
    this.walkKey = key;
    this.walkBase = (e >>> 12) << 9;
    this.walkGeneration = this.pt.generation;
    return this.walkBase | (vpn & 511);
  }

  /** PFN of the frame mapped at vpn, or -1 if none (no side effects). */
  framePfn(vpn: number): number {
    const slot = this.leafSlot(vpn);
    if (slot < 0) return -1;
    const e = this.pt.lo[slot];
    if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) return -1;
    return ((e >>> 12) | (this.pt.hi[slot] << 20)) + ((e & _PAGE_PSE) !== 0 ? vpn & 511 : 0);
  }

  /**
   * Fill page vpn with `data` the way a restorer writing into its own memory would: one store
   * faults a private, writable page in, then the whole page is copied. The VMA must be writable.
   */
  populatePage(vpn: number, data: Uint8Array): FaultResult {
    const r = this.store8(vpn, 0, data[0]);
    if (r !== FAULT_OK) return r;
    const pfn = this.framePfn(vpn);
    if (this.mem.tokens !== null) throw new Error('internal: populatePage() needs content memory');
    this.chunks[pfn >>> 9].set(data, (pfn & 511) << 12);
    return FAULT_OK;
  }

  /** Start a new truly-written set: the TLB is flushed so every next store is seen. */
  resetWritten(): PageSet | null {
    const before = this.written;
    this.written = new PageSet();
    this.flushTlb();
    return before;
  }

  /** flush_tlb_mm(): forget every cached translation. */
  flushTlb(): void {
    if (TLB_OWNER[0] === this.tlbId) flushAll();
    this.tlbGeneration = this.pt.generation;
  }

  /** flush_tlb_page() */
  flushTlbPage(vpn: number): void {
    if (TLB_OWNER[0] !== this.tlbId) return;
    const k = (vpn & TLB_MASK) << 1;
    if (W_TAGS[k] === vpn) W_TAGS[k] = NaN;
    if (R_TAGS[k] === vpn) R_TAGS[k] = NaN;
    const b = ((vpn >>> BLOCK_SHIFT) & BLOCK_MASK) << 1;
    const first = vpn - (vpn & BLOCK_LOW);
    if (WB_TAGS[b] === first) WB_TAGS[b] = NaN;
    if (RB_TAGS[b] === first) RB_TAGS[b] = NaN;
  }

  /** Write `data` at a virtual address, page by page, faulting as a CPU would. */
  writeBytes(addr: number, data: Uint8Array): FaultResult {
    for (let i = 0; i < data.length; i++) {
      const r = this.write8(addr + i, data[i]);
      if (r !== FAULT_OK) return r;
    }
    return FAULT_OK;
  }

  // ---- VMAs --------------------------------------------------------------------------------------

  /** find_vma(): the VMA containing vpn, or null. */
  findVma(vpn: number): Vma | null {
    const last = this.lastVma;
    if (last !== null && vpn >= last.start && vpn < last.end) return last;
    const vmas = this.vmas;
    let lo = 0;
    let hi = vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = vmas[mid];
      if (vpn < v.start) hi = mid - 1;
      else if (vpn >= v.end) lo = mid + 1;
      else {
        this.lastVma = v;
        return v;
      }
    }
    return null;
  }

  /** Index of the first VMA that ends after vpn. */
  vmaIndexFrom(vpn: number): number {
    const vmas = this.vmas;
    let lo = 0;
    let hi = vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (vmas[mid].end <= vpn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** VMAs overlapping [start, end), in order. */
  vmasIn(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.vmaIndexFrom(start); i < this.vmas.length && this.vmas[i].start < end; i++) out.push(this.vmas[i]);
    return out;
  }

  insertVma(vma: Vma): void {
    const i = this.vmaIndexFrom(vma.start);
    this.vmas.splice(i, 0, vma);
    if (vma.file !== null) vma.file.refs++;
    this.lastVma = null;
  }

  removeVma(vma: Vma): void {
    const i = this.vmas.indexOf(vma);
    if (i >= 0) this.vmas.splice(i, 1);
    if (vma.file !== null && --vma.file.refs === 0) vma.file.release(this.mem, this.swap);
    this.lastVma = null;
  }

  /** __split_vma(): cut `vma` at vpn; returns the upper part. A huge PMD across the cut is split. */
  splitVma(vma: Vma, at: number): Vma {
    this.faults.splitHugePmdAt(this, at);
    const upper = new Vma(at, vma.end, vma.flags, vma.kind, vma.fileIndex(at), vma.file, vma.anonVma, vma.forked);
    upper.uffdCtx = vma.uffdCtx;
    vma.end = at;
    this.insertVma(upper);
    return upper;
  }

  /** Make VMA boundaries fall on start and end (both inside or at edges of VMAs). */
  splitAround(start: number, end: number): void {
    const first = this.findVma(start);
    if (first !== null && first.start < start) this.splitVma(first, start);
    const last = this.findVma(end - 1);
    if (last !== null && last.end > end) this.splitVma(last, end);
  }

  /**
   * Merge `vma`, just inserted or changed, with its neighbours; returns the survivor.
   * 'vma_merge' (mprotect, madvise, copy_vma): prev is tried first with the range's own anon_vma,
   * then next, and prev and next together only if their anon_vmas agree. 'mmap_region' (a new
   * mapping): next is tried first, then prev with next's anon_vma. 'expand' (mremap growing in
   * place): only next can join.
   */
  mergeNeighbours(vma: Vma, how: 'vma_merge' | 'copy_vma' | 'mmap_region' | 'expand' = 'vma_merge'): Vma {
    const i = this.vmas.indexOf(vma);
    const prev = i > 0 && how !== 'expand' ? this.vmas[i - 1] : null;
    const next = i + 1 < this.vmas.length ? this.vmas[i + 1] : null;
    let withPrev: boolean;
    let withNext: boolean;
    if (how === 'mmap_region') {
      withNext = next !== null && canMergeBefore(vma, next, vma.anonVma);
      const anon = withNext ? next!.anonVma : vma.anonVma;
      withPrev = prev !== null && canMergeAfter(prev, vma, anon);
    } else {
      withPrev = prev !== null && canMergeAfter(prev, vma, vma.anonVma);
      withNext = next !== null && canMergeBefore(vma, next, vma.anonVma);
      if (withPrev && withNext && !isMergeableAnonVma(prev!.anonVma, null, next!.anonVma)) withNext = false;
    }
    let cur = vma;
    // __vma_adjust() grows the neighbour, which keeps its flags (VM_SOFTDIRTY included); mprotect
    // and madvise then set the range's new flags on the survivor (mprotect_fixup(),
    // madvise_update_vma(): "vma->vm_flags = newflags"), copy_vma() does not.
    const flags = how === 'copy_vma' ? (withPrev ? prev!.flags : withNext ? next!.flags : vma.flags) : cur.flags;
    if (withPrev) {
      prev!.end = cur.end;
      if (prev!.anonVma === 0) {
        prev!.anonVma = cur.anonVma;
        prev!.forked = cur.forked;
      }
      this.removeVma(cur);
      cur = prev!;
    }
    if (withNext) {
      cur.end = next!.end;
      if (cur.anonVma === 0) {
        cur.anonVma = next!.anonVma;
        cur.forked = next!.forked;
      }
      this.removeVma(next!);
    }
    if (how !== 'expand') cur.flags = flags;
    this.lastVma = null;
    return cur;
  }

  /**
   * anon_vma_prepare(): the first anonymous page of a VMA gives it an anon_vma, reusing a
   * neighbour's when find_mergeable_anon_vma() allows: next first, then prev, adjacent, same file,
   * flags equal but for VM_ACCESS_FLAGS and VM_SOFTDIRTY, pgoff continuous (anon_vma_compatible()),
   * and the neighbour's anon_vma_chain a single link (not a forked VMA).
   */
  anonVmaPrepare(vma: Vma): void {
    if (vma.anonVma !== 0) return;
    const i = this.vmas.indexOf(vma);
    const next = i >= 0 && i + 1 < this.vmas.length ? this.vmas[i + 1] : null;
    const prev = i > 0 ? this.vmas[i - 1] : null;
    const compatible = (a: Vma, b: Vma): boolean =>
      a.end === b.start &&
      a.file === b.file &&
      a.kind === b.kind &&
      ((a.flags ^ b.flags) & ~(VM_READ | VM_WRITE | VM_EXEC | VM_SOFTDIRTY)) === 0 &&
      b.pgoff === a.pgoff + (b.start - a.start);
    if (next !== null && next.anonVma !== 0 && !next.forked && compatible(vma, next)) vma.anonVma = next.anonVma;
    else if (prev !== null && prev.anonVma !== 0 && !prev.forked && compatible(prev, vma)) vma.anonVma = prev.anonVma;
    else vma.anonVma = newAnonVmaId();
  }

  /** vm_page_prot as pte bits: what a pte of this VMA gets before any write fault. */
  pageProt(vma: Vma): number {
    const f = vma.flags;
    if ((f & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return _PAGE_PROTNONE | _PAGE_USER | _PAGE_ACCESSED;
    let prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
    if ((f & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE) && !this.wantsWriteNotify(vma)) prot |= _PAGE_RW;
    return prot;
  }

  /**
   * vma_wants_writenotify() for soft-dirty and uffd-wp: shared writable VMAs whose VM_SOFTDIRTY is
   * clear, or that are registered for userfaultfd write-protection ("Do we need write faults for
   * uffd-wp tracking?").
   */
  wantsWriteNotify(vma: Vma): boolean {
    return (this.profile.sharedWriteNotify && (vma.flags & VM_SOFTDIRTY) === 0) || (vma.flags & VM_UFFD_WP) !== 0;
  }

  /** vma_soft_dirty_enabled(): writes to this VMA must fault so soft-dirty can be set. */
  softDirtyEnabled(vma: Vma): boolean {
    return this.profile.softDirty && (!this.profile.vmSoftDirty || (vma.flags & VM_SOFTDIRTY) === 0);
  }

  /** Resident pages (ptes and huge pmds mapping real frames), as RSS counts them. */
  rssPages(): number {
    let n = 0;
    const lo = this.pt.lo;
    for (const vma of this.vmas) {
      for (let vpn = vma.start; vpn < vma.end; ) {
        const pmd = this.pt.pmdSlot(vpn, false);
        const next = Math.min(vma.end, (Math.floor(vpn / 512) + 1) * 512);
        if (pmd >= 0 && lo[pmd] !== 0) {
          const e = lo[pmd];
          if ((e & _PAGE_PSE) !== 0) {
            if (!this.mem.isZero((e >>> 12) | (this.pt.hi[pmd] << 20))) n += next - vpn;
          } else {
            const base = (e >>> 12) << 9;
            for (let v = vpn; v < next; v++) {
              const p = lo[base | (v & 511)];
              if ((p & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0 && !this.mem.isZero((p >>> 12) | (this.pt.hi[base | (v & 511)] << 20))) n++;
            }
          }
        }
        vpn = next;
      }
    }
    return n;
  }
}

