import type { ShmemFile } from './shmem.js';

/** vm_flags bits (include/linux/mm.h), by the kernel's names and values. */
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
/** VM_UFFD_WP: registered with a userfaultfd in write-protect mode. */
export const VM_UFFD_WP = 0x1000;
export const VM_ACCOUNT = 0x100000;
export const VM_SOFTDIRTY = 0x8000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;

/** smaps VmFlags mnemonics, in bit order as show_smap_vma_flags() prints them. */
const MNEMONICS: ReadonlyArray<readonly [number, string]> = [
  [VM_READ, 'rd'],
  [VM_WRITE, 'wr'],
  [VM_EXEC, 'ex'],
  [VM_SHARED, 'sh'],
  [VM_MAYREAD, 'mr'],
  [VM_MAYWRITE, 'mw'],
  [VM_MAYEXEC, 'me'],
  [VM_MAYSHARE, 'ms'],
  [VM_UFFD_WP, 'uw'],
  [VM_ACCOUNT, 'ac'],
  [VM_SOFTDIRTY, 'sd'],
  [VM_HUGEPAGE, 'hg'],
  [VM_NOHUGEPAGE, 'nh'],
];

export function vmFlagsString(flags: number): string {
  const out: string[] = [];
  for (const [bit, name] of MNEMONICS) if ((flags & bit) !== 0) out.push(name);
  return out.join(' ');
}

export type VmaKind = 'anon' | 'shared' | 'file';

/** What a VMA knows of its userfaultfd_ctx (the context itself: userfaultfd.ts). */
export interface VmUserfaultfdCtx {
  /** UFFD_FEATURE_* enabled by UFFDIO_API. */
  readonly features: number;
}

let nextAnonVma = 1;
export function newAnonVmaId(): number {
  return nextAnonVma++;
}


/**
 * A vm_area_struct. Addresses are virtual page numbers: [start, end). `pgoff` is the page offset
 * into the file (for anonymous private memory, the page number the VMA was first mapped at, as
 * the kernel sets vm_pgoff, so VMAs that were moved apart do not merge back).
 */
export class Vma {
  /** vm_userfaultfd_ctx: the userfaultfd this VMA is registered with (VM_UFFD_WP set), or null. */
  uffdCtx: VmUserfaultfdCtx | null = null;

  constructor(
    public start: number,
    public end: number,
    public flags: number,
    public readonly kind: VmaKind,
    public pgoff: number,
    public readonly file: ShmemFile | null,
    /** anon_vma: 0 until the first anonymous page is faulted in. */
    public anonVma: number = 0,
    /**
     * The anon_vma_chain has more than one link: the VMA was copied by fork (anon_vma_fork()) from
     * one that had an anon_vma. Such a VMA never takes in a neighbour without an anon_vma.
     */
    public forked = false,
  ) {}

  get pages(): number {
    return this.end - this.start;
  }

  contains(vpn: number): boolean {
    return vpn >= this.start && vpn < this.end;
  }

  /** Page offset into the backing file of virtual page `vpn`. */
  fileIndex(vpn: number): number {
    return this.pgoff + (vpn - this.start);
  }

  clone(): Vma {
    const v = new Vma(this.start, this.end, this.flags, this.kind, this.pgoff, this.file, this.anonVma, this.forked);
    v.uffdCtx = this.uffdCtx;
    return v;
  }
}

/**
 * is_mergeable_anon_vma(anonVma, existing.anon_vma, existing): equal anon_vmas merge; a range
 * without one merges into an existing VMA only when that VMA's anon_vma_chain is a single link
 * ("avoid merging VMA cloned from parents"); an empty chain is not singular either.
 */
export function isMergeableAnonVma(anonVma: number, existing: Vma | null, existingAnonVma = existing?.anonVma ?? 0): boolean {
  if (anonVma === existingAnonVma) return true;
  if (anonVma !== 0 && existingAnonVma !== 0) return false;
  if (existing === null) return true;
  return existing.anonVma !== 0 && !existing.forked;
}

/** is_mergeable_vma() and the pgoff rule for `range` placed right after `prev`. */
export function canMergeAfter(prev: Vma, range: Vma, anonVma: number): boolean {
  if (prev.end !== range.start) return false;
  if (((prev.flags ^ range.flags) & ~VM_SOFTDIRTY) !== 0) return false;
  if (prev.kind !== range.kind || prev.file !== range.file) return false;
  // is_mergeable_vm_userfaultfd_ctx()
  if (prev.uffdCtx !== range.uffdCtx) return false;
  if (prev.pgoff + prev.pages !== range.pgoff) return false;
  return isMergeableAnonVma(anonVma, prev);
}

/** can_vma_merge_before(): `range` placed right before `next`. */
export function canMergeBefore(range: Vma, next: Vma, anonVma: number): boolean {
  if (range.end !== next.start) return false;
  if (((range.flags ^ next.flags) & ~VM_SOFTDIRTY) !== 0) return false;
  if (range.kind !== next.kind || range.file !== next.file) return false;
  if (range.uffdCtx !== next.uffdCtx) return false;
  if (range.pgoff + range.pages !== next.pgoff) return false;
  return isMergeableAnonVma(anonVma, next);
}
