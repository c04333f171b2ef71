/**
 * CRIU's should_dump_page() and page_in_parent() (criu/mem.c): the one rule for which pages an
 * iteration copies, used by the dumper and by `tracker run`'s dirty sampling.
 *
 *   present, not the zero page (kerndat's PFN)   dumped, unless it is page cache of a private file
 *   swapped                                      dumped
 *   no pte, zero page, page cache                not dumped: restored as zeros or from the file
 * A dumped page that is not soft-dirty since the parent iteration is left to it: CRIU calls that
 * an in-parent hole (page_pipe_add_hole(PP_HOLE_PARENT)).
 */
import { PM_FILE_HI, PM_PRESENT_HI, PM_SOFT_DIRTY_HI, PM_SWAP_HI } from '../proc/pagemap.js';

/** __page_is_zero(): present and mapped to the zero page. */
export function pageIsZero(lo: number, hi: number, zeroPagePfn: number): boolean {
  return (hi & PM_PRESENT_HI) !== 0 && lo === zeroPagePfn;
}

/** Whether the page whose pagemap entry is (lo, hi) has contents to dump. */
export function shouldDumpPage(lo: number, hi: number, privateFile: boolean, zeroPagePfn: number): boolean {
  if ((hi & PM_PRESENT_HI) !== 0) return lo !== zeroPagePfn && !(privateFile && (hi & PM_FILE_HI) !== 0);
  return (hi & PM_SWAP_HI) !== 0;
}

/** Whether a page to dump may be left to the parent: tracking memory with a parent, and not soft-dirty. */
export function pageInParent(hi: number, incremental: boolean): boolean {
  return incremental && (hi & PM_SOFT_DIRTY_HI) === 0;
}
