/**
 * Page faults (mm/memory.c): what the kernel does when an access finds no pte, a swap pte, or a
 * write-protected pte. Every path that makes a pte writable goes through pte_mkdirty(), which on
 * x86 also sets _PAGE_SOFT_DIRTY: that is how soft-dirty tracking sees writes.
 */
import { FAULT_OK, FAULT_OOM, FAULT_SIGBUS, FAULT_SIGSEGV, type FaultResult } from './errno.js';
import { doHugePmdAnonymousPage, doHugePmdWpPage, HUGE_FALLBACK, splitHugePmd, thpEligible } from './huge-memory.js';
import type { Mm } from './mm.js';
import { PG_anon, PG_anon_exclusive, PG_swapcache, PG_thp } from './page-alloc.js';
import {
  _PAGE_ACCESSED,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  is_pte_marker,
  PTE_MARKER_UFFD_WP_HI,
  PTE_MARKER_UFFD_WP_LO,
  swp_offset,
} from './pgtable-types.js';
import { userfaultfdWp, userfaultfdWpAsync, wantsUffdWpMarkerAfterZap } from './userfaultfd-k.js';
import { VM_EXEC, VM_READ, VM_SHARED, VM_UFFD_WP, VM_WRITE, type Vma } from './vma.js';

// Bits the wp fault path tests, as module constants: the JIT folds these, not imported bindings.
const PTE_SPECIAL = 0x200; // _PAGE_SPECIAL
const RW_ACCESSED = 0x22; // _PAGE_RW | _PAGE_ACCESSED
const VMF_SHARED = 0x8; // VM_SHARED
const F_ANON = 0x1; // PG_anon
const F_SWAPCACHE = 0x20; // PG_swapcache
const F_THP = 0x4; // PG_thp
const F_EXCLUSIVE = 0x100; // PG_anon_exclusive
const PTE_UFFD_WP = 0x400; // _PAGE_UFFD_WP
const VMF_UFFD_WP = 0x1000; // VM_UFFD_WP
if (F_THP !== PG_thp || F_EXCLUSIVE !== PG_anon_exclusive) throw new Error('memory.ts: local page flags disagree with page-alloc.ts');
if (PTE_UFFD_WP !== _PAGE_UFFD_WP || VMF_UFFD_WP !== VM_UFFD_WP) throw new Error('memory.ts: local uffd-wp bits disagree');
if (PTE_SPECIAL !== _PAGE_SPECIAL || RW_ACCESSED !== (_PAGE_RW | _PAGE_ACCESSED) || VMF_SHARED !== VM_SHARED || F_ANON !== PG_anon || F_SWAPCACHE !== PG_swapcache) {
  throw new Error('memory.ts: local bit constants disagree with pgtable-types.ts / vma.ts / page-alloc.ts');
}

/** fault_around_bytes: read faults on file mappings also map up to 16 cached neighbours. */
export const FAULT_AROUND_PAGES = 16;

/** handle_mm_fault(): resolve an access to vpn, or say which signal it raises. */
export function handleMmFault(mm: Mm, vpn: number, write: boolean): FaultResult {
  const vma = mm.findVma(vpn);
  if (vma === null) return FAULT_SIGSEGV;
  if (write ? (vma.flags & VM_WRITE) === 0 : (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return FAULT_SIGSEGV;
  mm.counters.faults++;
  const pt = mm.pt;
  const pmd = pt.pmdSlot(vpn, true);
  let e = pt.lo[pmd];
  if (e === 0 && thpEligible(mm, vma, vpn)) {
    const r = doHugePmdAnonymousPage(mm, vma, vpn, pmd, write);
    if (r !== HUGE_FALLBACK) return r;
  } else if ((e & _PAGE_PSE) !== 0) {
    if (!write || (e & _PAGE_RW) !== 0) {
      pt.lo[pmd] = e | _PAGE_ACCESSED | (write ? mm.dirtyBits : 0);
      return FAULT_OK;
    }
    if ((e & _PAGE_UFFD_WP) !== 0 && userfaultfdWp(vma)) {
      // wp_huge_pmd(): a uffd-wp PMD is reported (handle_userfault(): SIGBUS without a monitor), or
      // with WP_ASYNC split, so the write is resolved per pte.
      if (!userfaultfdWpAsync(vma)) return FAULT_SIGBUS;
      splitHugePmd(mm, pmd);
    } else {
      const r = doHugePmdWpPage(mm, vma, vpn, pmd);
      if (r !== HUGE_FALLBACK) return r;
    }
  }
  const freshTable = pt.lo[pmd] === 0;
  const slot = pt.pteTable(pmd, true) | (vpn & 511);
  e = pt.lo[slot];
  const h = pt.hi[slot];
  if (e === 0 && h === 0) {
    const r = doPteMissing(mm, vma, vpn, slot, write, false);
    // __do_fault() fails before finish_fault() allocates the pte table (and fault-around installs
    // its preallocated one only when it maps a page): a SIGBUS leaves the PMD empty.
    if (r === FAULT_SIGBUS && freshTable && pt.tableIsEmpty(slot & ~511)) pt.freeTable(pt.detachPteTable(pmd) >>> 9);
    return r;
  }
  if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) {
    if (is_pte_marker(e, h)) {
      // handle_pte_marker() -> pte_marker_handle_uffd_wp(): an ordinary missing-page fault whose
      // new pte keeps the protection (vmf_orig_pte_uffd_wp()); a marker left in a VMA no longer
      // registered is just cleared (pte_marker_clear()).
      pt.lo[slot] = 0;
      pt.hi[slot] = 0;
      const r = doPteMissing(mm, vma, vpn, slot, write, userfaultfdWp(vma));
      if (r !== FAULT_OK && pt.lo[slot] === 0 && pt.hi[slot] === 0) {
        pt.lo[slot] = PTE_MARKER_UFFD_WP_LO;
        pt.hi[slot] = PTE_MARKER_UFFD_WP_HI;
      }
      return r;
    }
    return doSwapPage(mm, vma, vpn, slot, write);
  }
  if (write) {
    if ((e & _PAGE_RW) === 0) return doWpPage(mm, vma, slot);
    pt.lo[slot] = e | _PAGE_ACCESSED | mm.dirtyBits;
  } else {
    pt.lo[slot] = e | _PAGE_ACCESSED;
  }
  return FAULT_OK;
}

/** do_anonymous_page() for a write: a new zeroed frame at `slot`, its pte `bits` (all but the PFN). */
function mapAnonWrite(mm: Mm, vma: Vma, slot: number, bits: number): FaultResult {
  mm.anonVmaPrepare(vma);
  const pfn = mm.mem.allocFrame(PG_anon | PG_anon_exclusive);
  if (pfn < 0) return FAULT_OOM;
  mm.mem.getPte(pfn);
  mm.pt.lo[slot] = (pfn << 12) | bits;
  mm.pt.hi[slot] = pfn >>> 20;
  return FAULT_OK;
}

/**
 * do_pte_missing(). `uffdWp`: the pte was a uffd-wp marker, so the new pte is protected too
 * (pte_mkuffd_wp(), which also takes _PAGE_RW away: a write then faults again into do_wp_page()).
 */
function doPteMissing(mm: Mm, vma: Vma, vpn: number, slot: number, write: boolean, uffdWp: boolean): FaultResult {
  const prot = mm.pageProt(vma);
  const mem = mm.mem;
  const wp = uffdWp ? _PAGE_UFFD_WP : 0;
  const rw = uffdWp ? 0 : _PAGE_RW;
  if (vma.kind === 'anon') {
    if (!write) {
      // do_anonymous_page(): a read maps the shared zero page, special and read-only.
      mm.pt.lo[slot] = (mem.zeroPfn << 12) | (prot & ~_PAGE_RW) | _PAGE_SPECIAL | wp;
      return FAULT_OK;
    }
    return mapAnonWrite(mm, vma, slot, (prot & ~_PAGE_RW) | rw | mm.dirtyBits | wp);
  }
  const file = vma.file!;
  const index = vma.fileIndex(vpn);
  if (!write) {
    // do_read_fault(): ->map_pages() (fault-around) first, so the cached pages around a fault
    // beyond the end of the file are mapped before ->fault() raises SIGBUS. should_fault_around():
    // never in a VMA registered for uffd-wp (uffd_disable_fault_around()).
    if ((vma.flags & VM_UFFD_WP) === 0) doFaultAround(mm, vma, vpn, prot);
    if (index >= file.nrPages) return FAULT_SIGBUS;
    if (mm.pt.lo[slot] !== 0) return FAULT_OK;
    // do_read_fault(): map the page cache page; private mappings get it read-only for COW.
    const pfn = file.getPage(index, mem, mm.swap);
    if (pfn < 0) return FAULT_OOM;
    mem.getPte(pfn);
    mm.pt.lo[slot] = (pfn << 12) | (wp !== 0 ? prot & ~_PAGE_RW : prot) | wp;
    mm.pt.hi[slot] = pfn >>> 20;
    return FAULT_OK;
  }
  // do_cow_fault() prepares the anon_vma before ->fault() can raise SIGBUS: a failed private
  // write still gives the VMA one (and fork then copies its page tables).
  if ((vma.flags & VM_SHARED) === 0) mm.anonVmaPrepare(vma);
  if (index >= file.nrPages) return FAULT_SIGBUS;
  const page = file.getPage(index, mem, mm.swap);
  if (page < 0) return FAULT_OOM;
  if ((vma.flags & VM_SHARED) !== 0) {
    // do_shared_fault()
    mem.getPte(page);
    mm.pt.lo[slot] = (page << 12) | (prot & ~_PAGE_RW) | rw | mm.dirtyBits | wp;
    mm.pt.hi[slot] = page >>> 20;
    return FAULT_OK;
  }
  // do_cow_fault(): a private copy of the file page.
  mm.anonVmaPrepare(vma);
  const pfn = mem.allocFrame(PG_anon | PG_anon_exclusive);
  if (pfn < 0) return FAULT_OOM;
  mem.copyFrame(pfn, page);
  mem.getPte(pfn);
  mm.pt.lo[slot] = (pfn << 12) | (prot & ~_PAGE_RW) | rw | mm.dirtyBits | wp;
  mm.pt.hi[slot] = pfn >>> 20;
  mm.counters.cowFaults++;
  return FAULT_OK;
}

/**
 * do_fault_around(): map the page cache pages of the aligned 16-page window around a read fault
 * (clipped to the VMA and to the page table), read-only and clean, where no pte exists yet.
 */
function doFaultAround(mm: Mm, vma: Vma, vpn: number, prot: number): void {
  const file = vma.file!;
  const windowStart = Math.max(vpn - (vpn % FAULT_AROUND_PAGES), vma.start);
  const tableEnd = (Math.floor(vpn / 512) + 1) * 512;
  const end = Math.min(windowStart + FAULT_AROUND_PAGES, vma.end, tableEnd);
  const base = mm.pt.pteSlot(windowStart, true);
  const lo = mm.pt.lo;
  const hi = mm.pt.hi;
  for (let v = windowStart; v < end; v++) {
    const s = base + (v - windowStart);
    if (lo[s] !== 0 || hi[s] !== 0) continue;
    const index = vma.fileIndex(v);
    if (index >= file.nrPages) break;
    const pfn = file.pfn[index];
    if (pfn < 0) continue;
    mm.mem.getPte(pfn);
    lo[s] = (pfn << 12) | prot;
    hi[s] = pfn >>> 20;
  }
}

/** do_swap_page(): bring a swapped page back; soft-dirty comes back from the swap pte. */
function doSwapPage(mm: Mm, vma: Vma, vpn: number, slot: number, write: boolean): FaultResult {
  const mem = mm.mem;
  const swap = mm.swap;
  const e = mm.pt.lo[slot];
  const s = swp_offset(e, mm.pt.hi[slot]);
  let pfn = swap.cache[s];
  if (pfn < 0) {
    pfn = mem.allocFrame(PG_anon);
    if (pfn < 0) return FAULT_OOM;
    swap.readInto(s, mem, pfn);
    if (swap.swapMap[s] > 1) {
      // Others still hold this swap entry (fork): keep the page in the swap cache for them.
      swap.cache[s] = pfn;
      mem.flags[pfn] |= PG_swapcache;
      mem.swapSlot[pfn] = s;
    }
  }
  mm.counters.swapIns++;
  const exclusive = (e & _PAGE_SWP_EXCLUSIVE) !== 0 || (swap.swapMap[s] === 1 && mem.mapcount[pfn] === 0);
  let pte = (pfn << 12) | mm.pageProt(vma);
  if (mm.profile.swapSoftDirty && (e & _PAGE_SWP_SOFT_DIRTY) !== 0) pte |= _PAGE_SOFT_DIRTY;
  // "if (pte_swp_uffd_wp(vmf->orig_pte)) pte = pte_mkuffd_wp(pte);": a write then goes through
  // do_wp_page() (!userfaultfd_pte_wp() guards the early mkwrite).
  const uffdWp = (e & _PAGE_SWP_UFFD_WP) !== 0;
  if (uffdWp) pte = (pte | _PAGE_UFFD_WP) & ~_PAGE_RW;
  let handledWrite = false;
  if (exclusive) mem.flags[pfn] |= PG_anon_exclusive;
  if (exclusive && write && !(uffdWp && userfaultfdWp(vma))) {
    pte |= _PAGE_RW | mm.dirtyBits;
    handledWrite = true;
  }
  mem.getPte(pfn);
  mm.pt.lo[slot] = pte;
  mm.pt.hi[slot] = pfn >>> 20;
  if (swap.put(s) >= 0) mem.flags[pfn] &= ~PG_swapcache;
  mm.anonVmaPrepare(vma);
  if (write && !handledWrite) return doWpPage(mm, vma, slot);
  void vpn;
  return FAULT_OK;
}

/**
 * do_wp_page(): a write hit a present, write-protected pte. Reuse the page when only this pte maps
 * it (the soft-dirty fast path after clear_refs), otherwise copy it (COW, or away from the zero page).
 */
export function doWpPage(mm: Mm, vma: Vma, slot: number): FaultResult {
  const mem = mm.mem;
  const lo = mm.pt.lo;
  let e = lo[slot];
  if ((e & PTE_UFFD_WP) !== 0 && (vma.flags & VMF_UFFD_WP) !== 0) {
    // userfaultfd_pte_wp(): without a monitor, handle_userfault() is SIGBUS (UFFD_FEATURE_SIGBUS);
    // with WP_ASYNC the kernel drops the bit and goes on as an ordinary write fault.
    if (!userfaultfdWpAsync(vma)) return FAULT_SIGBUS;
    e &= ~PTE_UFFD_WP;
    lo[slot] = e;
  }
  const pfn = (e >>> 12) | (mm.pt.hi[slot] << 20);
  if ((e & PTE_SPECIAL) === 0) {
    if ((vma.flags & VMF_SHARED) !== 0) {
      // wp_page_shared()
      lo[slot] = e | RW_ACCESSED | mm.dirtyBits;
      mm.counters.softDirtyFaults++;
      return FAULT_OK;
    }
    const flags = mem.flags[pfn];
    // PageAnonExclusive pages are reused outright; otherwise only with no other reference: for a
    // small page its one mapping, for a THP subpage the whole folio's (each mapped subpage holds
    // one, so a pte-mapped THP shared once is copied from, even after the other side is gone).
    if (
      (flags & F_ANON) !== 0 &&
      ((flags & F_EXCLUSIVE) !== 0 ||
        ((flags & F_SWAPCACHE) === 0 &&
          ((flags & F_THP) === 0 ? mem.mapcount[pfn] === 1 : mm.profile.wpReusesLargeFolio && mem.refs[pfn - (pfn & 511)] === 1)))
    ) {
      // wp_page_reuse()
      mem.flags[pfn] = flags | F_EXCLUSIVE;
      lo[slot] = e | RW_ACCESSED | mm.dirtyBits;
      mm.counters.softDirtyFaults++;
      return FAULT_OK;
    }
  }
  // wp_page_copy()
  mm.anonVmaPrepare(vma);
  const copy = mem.allocFrame(F_ANON | F_EXCLUSIVE);
  if (copy < 0) return FAULT_OOM;
  if ((e & PTE_SPECIAL) === 0) mem.copyFrame(copy, pfn);
  mem.getPte(copy);
  mm.pt.lo[slot] = (copy << 12) | mm.pageProt(vma) | RW_ACCESSED | mm.dirtyBits;
  mm.pt.hi[slot] = copy >>> 20;
  if ((e & PTE_SPECIAL) === 0) mem.putPte(pfn);
  mm.counters.cowFaults++;
  return FAULT_OK;
}

/**
 * zap_pte_range(): drop the ptes of [start, end) within one page table (the PMD must not be huge).
 * Page references and swap references go with them. `details` is the VMA of a zap that keeps
 * uffd-wp protection (MADV_DONTNEED: no ZAP_FLAG_DROP_MARKER): zap_install_uffd_wp_if_needed().
 */
export function zapPtes(mm: Mm, start: number, end: number, details: Vma | null = null): void {
  const base = mm.pt.pteSlot(start, false);
  if (base < 0) return;
  const lo = mm.pt.lo;
  const hi = mm.pt.hi;
  const mem = mm.mem;
  for (let v = start; v < end; v++) {
    const s = base + (v - start);
    const e = lo[s];
    const h = hi[s];
    if (e === 0 && h === 0) continue;
    const marker = details !== null && wantsUffdWpMarkerAfterZap(details, e, h);
    if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
      if ((e & _PAGE_SPECIAL) === 0) mem.putPte((e >>> 12) | (h << 20));
    } else if (!is_pte_marker(e, h)) freeSwapAndCache(mm, e, h);
    lo[s] = marker ? PTE_MARKER_UFFD_WP_LO : 0;
    hi[s] = marker ? PTE_MARKER_UFFD_WP_HI : 0;
  }
}

/** free_swap_and_cache(): drop a swap entry's reference, and its swap-cache page once unused. */
export function freeSwapAndCache(mm: Mm, e: number, h: number): void {
  const freed = mm.swap.put(swp_offset(e, h));
  if (freed >= 0) {
    mm.mem.flags[freed] &= ~PG_swapcache;
    if (mm.mem.mapcount[freed] === 0) mm.mem.freeFrame(freed);
  }
}

/**
 * Fault pages [vpn, vpn + n) in for write, as a read() into user memory does through
 * get_user_pages(FOLL_WRITE) (and MADV_POPULATE_WRITE): each page ends exactly as a write fault
 * leaves it (frames from the same allocator in the same order; ptes, counters and the anon_vma
 * alike), and no byte of its frame is touched. The common case, none ptes of a private anonymous
 * VMA, is done a pte table at a time in one loop over the typed arrays, with no call into the fault
 * path per page; anything else (a THP-eligible range, a huge PMD, a pte already there, uffd-wp,
 * token memory, a truly-written set) goes through `fault(vpn)`, one page at a time.
 * Returns how many pages were faulted in: fewer than n when the fault of page vpn + result failed.
 */
export function populateWrite(mm: Mm, vpn: number, n: number, fault: (vpn: number) => FaultResult): number {
  const end = vpn + n;
  const mem = mm.mem;
  const pt = mm.pt;
  const bulk = mem.tokens === null && mm.written === null;
  for (let v = vpn; v < end; ) {
    const vma = bulk ? mm.findVma(v) : null;
    let pmd = -1;
    if (vma !== null && vma.kind === 'anon' && (vma.flags & (VM_WRITE | VM_UFFD_WP)) === VM_WRITE && !thpEligible(mm, vma, v)) {
      pmd = pt.pmdSlot(v, true);
      if ((pt.lo[pmd] & _PAGE_PSE) !== 0) pmd = -1;
    }
    if (pmd >= 0) {
      // do_anonymous_page() for a write, pte after pte of one table: what doPteMissing() does.
      const stop = Math.min(end, vma!.end, (Math.floor(v / 512) + 1) * 512);
      const base = pt.pteTable(pmd, true);
      const bits = (mm.pageProt(vma!) & ~_PAGE_RW) | _PAGE_RW | mm.dirtyBits;
      const from = v;
      for (; v < stop; v++) {
        const s = base | (v & 511);
        if (pt.lo[s] !== 0 || pt.hi[s] !== 0) break;
        if (mapAnonWrite(mm, vma!, s, bits) !== FAULT_OK) {
          // handle_mm_fault() counted the fault that then found no memory.
          mm.counters.faults += v - from + 1;
          return v - vpn;
        }
      }
      mm.counters.faults += v - from;
      if (v === stop) continue;
    }
    // This page the ordinary way (the loop above stopped at a pte already there).
    if (fault(v) !== FAULT_OK) return v - vpn;
    v++;
  }
  return n;
}
