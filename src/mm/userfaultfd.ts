/**
 * userfaultfd in write-protect mode (fs/userfaultfd.c, mm/userfaultfd.c), the part a dirty tracker
 * uses: UFFDIO_API, UFFDIO_REGISTER / UNREGISTER with UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT,
 * and the release of the descriptor. No monitor thread exists: a write to a protected page is
 * either resolved by the kernel itself (UFFD_FEATURE_WP_ASYNC, 6.7+: do_wp_page() drops the uffd-wp
 * bit and goes on as an ordinary write fault) or raises SIGBUS (UFFD_FEATURE_SIGBUS:
 * handle_userfault() returns VM_FAULT_SIGBUS).
 *
 * A protected pte carries _PAGE_UFFD_WP and no _PAGE_RW; a protected swap pte _PAGE_SWP_UFFD_WP;
 * a protected empty pte is a PTE_MARKER_UFFD_WP marker, installed where
 * userfaultfd_wp_use_markers(): always for shmem and files, for anonymous memory only with
 * UFFD_FEATURE_WP_UNPOPULATED (which WP_ASYNC turns on: "WP_ASYNC relies on WP_UNPOPULATED").
 */
import { EBUSY, EINVAL, ENOENT, ENOSYS } from './errno.js';
import { splitHugePmd } from './huge-memory.js';
import { TASK_SIZE_VPN } from './mmap.js';
import type { Mm } from './mm.js';
import { canChangePteWritable } from './mprotect.js';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  is_pte_marker,
  PTE_MARKER_UFFD_WP_HI,
  PTE_MARKER_UFFD_WP_LO,
} from './pgtable-types.js';
import {
  UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  userfaultfdWp,
  userfaultfdWpUseMarkers,
} from './userfaultfd-k.js';
import { VM_SHARED, VM_UFFD_WP, VM_WRITE, type Vma, type VmUserfaultfdCtx } from './vma.js';

export {
  UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  userfaultfdPteWp,
  userfaultfdWp,
  userfaultfdWpAsync,
  userfaultfdWpUseMarkers,
} from './userfaultfd-k.js';

/** mmap_min_addr (64 KiB) in pages: validate_range() refuses ranges below it. */
const MMAP_MIN_PAGES = 16;

/** A userfaultfd_ctx: the features UFFDIO_API enabled, and the mm it was opened in. */
export class UserfaultfdCtx implements VmUserfaultfdCtx {
  features = 0;
  /** UFFDIO_API has run: the features are fixed. */
  initialized = false;
  released = false;
  constructor(readonly mm: Mm) {}
}

/** userfaultfd(2): a new context, or -ENOSYS on a kernel without the system call. */
export function userfaultfdOpen(mm: Mm): UserfaultfdCtx | number {
  if (!mm.profile.userfaultfd) return -ENOSYS;
  return new UserfaultfdCtx(mm);
}

/** UFFDIO_API: enable `features`; a feature this kernel does not know is EINVAL (userfaultfd_api()). */
export function userfaultfdApi(ctx: UserfaultfdCtx, features: number): number {
  if (ctx.initialized) return -EINVAL;
  let known = UFFD_FEATURE_SIGBUS;
  if (ctx.mm.profile.uffdWpAsync) known |= UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_ASYNC;
  if ((features & ~known) !== 0) return -EINVAL;
  // "WP_ASYNC relies on WP_UNPOPULATED, choose it unconditionally"
  if ((features & UFFD_FEATURE_WP_ASYNC) !== 0) features |= UFFD_FEATURE_WP_UNPOPULATED;
  ctx.features = features;
  ctx.initialized = true;
  return 0;
}

/** validate_range(): page units, so alignment is given; length, mmap_min_addr and TASK_SIZE remain. */
function validateRange(start: number, pages: number): number {
  if (pages <= 0) return -EINVAL;
  if (start < MMAP_MIN_PAGES || start >= TASK_SIZE_VPN || pages > TASK_SIZE_VPN - start) return -EINVAL;
  return 0;
}

/**
 * vma_modify_flags_uffd() + userfaultfd_set_ctx() / userfaultfd_reset_ctx() on [from, to) of one
 * VMA: split it there, give the piece its new registration, and let it merge with its neighbours.
 */
function setVmaUffd(mm: Mm, from: number, to: number, ctx: UserfaultfdCtx | null): Vma {
  mm.splitAround(from, to);
  const piece = mm.findVma(from)!;
  piece.uffdCtx = ctx;
  piece.flags = ctx === null ? piece.flags & ~VM_UFFD_WP : piece.flags | VM_UFFD_WP;
  return mm.mergeNeighbours(piece);
}

/** UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_WP (userfaultfd_register()). Registering protects nothing. */
export function userfaultfdRegister(mm: Mm, ctx: UserfaultfdCtx, start: number, pages: number): number {
  const bad = validateRange(start, pages);
  if (bad < 0) return bad;
  const end = start + pages;
  const vmas = mm.vmasIn(start, end);
  // "check that there's at least one vma in the range"; holes between VMAs are allowed.
  if (vmas.length === 0) return -EINVAL;
  for (const v of vmas) {
    // A VMA may belong to one userfaultfd only.
    if (v.uffdCtx !== null && v.uffdCtx !== ctx) return -EBUSY;
  }
  // userfaultfd_register_range(). "Nothing to do: this vma is already registered into this
  // userfaultfd and with the right tracking mode too."
  forEachVmaPart(mm, start, end, (v, from, to) => (v.uffdCtx === ctx && userfaultfdWp(v) ? v : setVmaUffd(mm, from, to, ctx)));
  mm.flushTlb();
  return 0;
}

/**
 * Each VMA over [start, end) in turn, cut to the range: `fn` may split or merge it and returns the
 * VMA that now holds [from, to), so the walk goes on after it.
 */
function forEachVmaPart(mm: Mm, start: number, end: number, fn: (v: Vma, from: number, to: number) => Vma): void {
  let cur = start;
  while (cur < end) {
    const v = mm.vmasIn(cur, end)[0];
    if (v === undefined) break;
    const from = Math.max(cur, v.start);
    const to = Math.min(end, v.end);
    const done = fn(v, from, to);
    cur = Math.max(to, Math.min(done.end, end));
  }
}

/**
 * userfaultfd_clear_vma() over [from, to) of a registered VMA: "Reset ptes for the whole vma range
 * if wr-protected", then drop the registration (UFFDIO_UNREGISTER and the descriptor's release).
 */
function clearVmaRange(mm: Mm, v: Vma, from: number, to: number): Vma {
  if (userfaultfdWp(v)) uffdWpRange(mm, v, from, to, false);
  return setVmaUffd(mm, from, to, null);
}

/** UFFDIO_UNREGISTER (userfaultfd_unregister()). */
export function userfaultfdUnregister(mm: Mm, ctx: UserfaultfdCtx, start: number, pages: number): number {
  const bad = validateRange(start, pages);
  if (bad < 0) return bad;
  const end = start + pages;
  if (mm.vmasIn(start, end).length === 0) return -EINVAL;
  void ctx;
  forEachVmaPart(mm, start, end, (v, from, to) => (v.uffdCtx === null ? v : clearVmaRange(mm, v, from, to)));
  mm.flushTlb();
  return 0;
}

/** userfaultfd_release(): closing the descriptor unregisters every VMA registered with it. */
export function userfaultfdRelease(mm: Mm, ctx: UserfaultfdCtx): void {
  if (ctx.released) return;
  ctx.released = true;
  for (let i = 0; i < mm.vmas.length; i++) {
    const v = mm.vmas[i];
    if (v.uffdCtx !== ctx) continue;
    const done = clearVmaRange(mm, v, v.start, v.end);
    i = mm.vmas.indexOf(done);
  }
  mm.flushTlb();
}

/**
 * UFFDIO_WRITEPROTECT (mwriteprotect_range()): protect (or unprotect) [start, start + pages). 6.12
 * walks every VMA of the range, holes skipped, and stops with ENOENT at the first one not
 * registered in WP mode, after changing the ones before it; 6.1 needs the range in one VMA.
 */
export function mwriteprotectRange(mm: Mm, ctx: UserfaultfdCtx, start: number, pages: number, enableWp: boolean): number {
  const bad = validateRange(start, pages);
  if (bad < 0) return bad;
  void ctx;
  const end = start + pages;
  if (!mm.profile.uffdWpSpansVmas) {
    // find_dst_vma()
    const v = mm.findVma(start);
    if (v === null || end > v.end || !userfaultfdWp(v)) return -ENOENT;
    uffdWpRange(mm, v, start, end, enableWp);
    return 0;
  }
  let err = -ENOENT;
  for (const v of mm.vmasIn(start, end)) {
    if (!userfaultfdWp(v)) {
      err = -ENOENT;
      break;
    }
    uffdWpRange(mm, v, Math.max(start, v.start), Math.min(end, v.end), enableWp);
    err = 0;
  }
  return err;
}

/**
 * uffd_wp_range(): change_protection() with MM_CP_UFFD_WP (protect) or MM_CP_UFFD_WP_RESOLVE
 * (unprotect, with MM_CP_TRY_CHANGE_WRITABLE where vma_wants_manual_pte_write_upgrade()) over
 * [start, end) of one VMA (change_pte_range(), change_huge_pmd()).
 */
export function uffdWpRange(mm: Mm, vma: Vma, start: number, end: number, enable: boolean): void {
  const pt = mm.pt;
  const markers = enable && userfaultfdWpUseMarkers(vma);
  const tryWritable = !enable && (vma.flags & VM_WRITE) !== 0 && ((vma.flags & VM_SHARED) === 0 || mm.wantsWriteNotify(vma));
  const sharedWritable = !enable && mm.profile.uffdUnprotectMakesSharedWritable && (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);
  for (let vpn = start; vpn < end; ) {
    const next = Math.min(end, (Math.floor(vpn / 512) + 1) * 512);
    let pmd = pt.pmdSlot(vpn, markers);
    if (pmd < 0) {
      vpn = next;
      continue;
    }
    let e = pt.lo[pmd];
    if ((e & _PAGE_PSE) !== 0) {
      // change_huge_pmd() on an anonymous THP wholly in the range; a partial one (or one in
      // shmem, which needs markers at the pte level) is split first.
      if (next - vpn === 512 && vma.kind === 'anon') {
        pt.lo[pmd] = enable ? (e | _PAGE_UFFD_WP) & ~_PAGE_RW : e & ~_PAGE_UFFD_WP;
        vpn = next;
        continue;
      }
      splitHugePmd(mm, pmd);
      e = pt.lo[pmd];
    }
    if (e === 0) {
      // pgtable_populate_needed(): the markers need a pte table.
      if (!markers) {
        vpn = next;
        continue;
      }
      pmd = pt.pmdSlot(vpn, true);
    }
    const base = pt.pteTable(pmd, true);
    const lo = pt.lo;
    const hi = pt.hi;
    for (let v = vpn; v < next; v++) {
      const s = base | (v & 511);
      const pte = lo[s];
      const h = hi[s];
      if ((pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
        if (enable) lo[s] = (pte | _PAGE_UFFD_WP) & ~_PAGE_RW;
        else {
          let n = pte & ~_PAGE_UFFD_WP;
          if (sharedWritable && (n & _PAGE_PRESENT) !== 0) n |= _PAGE_RW;
          else if (tryWritable && (n & _PAGE_RW) === 0 && canChangePteWritable(mm, vma, n, h)) n |= _PAGE_RW;
          lo[s] = n;
        }
      } else if (pte === 0 && h === 0) {
        // "Nobody plays with any none ptes besides userfaultfd when applying the protections."
        if (markers) {
          lo[s] = PTE_MARKER_UFFD_WP_LO;
          hi[s] = PTE_MARKER_UFFD_WP_HI;
        }
      } else if (is_pte_marker(pte, h)) {
        // "If this is uffd-wp pte marker and we'd like to unprotect it, drop it."
        if (!enable) {
          lo[s] = 0;
          hi[s] = 0;
        }
      } else lo[s] = enable ? pte | _PAGE_SWP_UFFD_WP : pte & ~_PAGE_SWP_UFFD_WP;
    }
    vpn = next;
  }
  mm.flushTlb();
}

/**
 * make_uffd_wp_pte() (fs/proc/task_mmu.c, PAGEMAP_SCAN's PM_SCAN_WP_MATCHING): protect one pte,
 * whatever it holds; an empty one becomes a marker.
 */
export function makeUffdWpPte(mm: Mm, slot: number): void {
  const lo = mm.pt.lo;
  const hi = mm.pt.hi;
  const e = lo[slot];
  const h = hi[slot];
  if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) lo[slot] = (e | _PAGE_UFFD_WP) & ~_PAGE_RW;
  else if (e === 0 && h === 0) {
    lo[slot] = PTE_MARKER_UFFD_WP_LO;
    hi[slot] = PTE_MARKER_UFFD_WP_HI;
  } else if (!is_pte_marker(e, h)) lo[slot] = e | _PAGE_SWP_UFFD_WP;
}

/** make_uffd_wp_pmd(): protect a whole huge PMD. */
export function makeUffdWpPmd(mm: Mm, pmd: number): void {
  mm.pt.lo[pmd] = (mm.pt.lo[pmd] | _PAGE_UFFD_WP) & ~_PAGE_RW;
}

