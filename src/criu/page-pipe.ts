/**
 * CRIU's page-pipe.c: what an iteration collects while the process is frozen. Pages to dump and
 * in-parent holes (PP_HOLE_PARENT) are kept as runs in typed arrays, neighbours merged, with no
 * object or number per page; the pagemap entries are the runs in address order.
 */
import { PE_PARENT, PE_PRESENT, type PagemapEntry } from './schema.js';

export class PagePipe {
  /** Runs of pages to dump: iovs of the pipe buffers. */
  pageStart = new Float64Array(64);
  pageLen = new Int32Array(64);
  nrPageRuns = 0;
  /** Every run, pages and holes, in address order: the pagemap. */
  private runStart = new Float64Array(64);
  private runLen = new Int32Array(64);
  private runFlags = new Uint8Array(64);
  private nrRuns = 0;
  nrPages = 0;
  nrHoles = 0;

  addPage(vpn: number): void {
    this.nrPages++;
    const k = this.nrPageRuns - 1;
    if (k >= 0 && this.pageStart[k] + this.pageLen[k] === vpn) this.pageLen[k]++;
    else {
      if (this.nrPageRuns === this.pageStart.length) {
        this.pageStart = grow(this.pageStart);
        this.pageLen = grow(this.pageLen);
      }
      this.pageStart[this.nrPageRuns] = vpn;
      this.pageLen[this.nrPageRuns++] = 1;
    }
    this.addRun(vpn, PE_PRESENT);
  }

  /** page_pipe_add_hole(PP_HOLE_PARENT): the parent holds this page. */
  addHole(vpn: number): void {
    this.nrHoles++;
    this.addRun(vpn, PE_PARENT);
  }

  private addRun(vpn: number, flags: number): void {
    const k = this.nrRuns - 1;
    if (k >= 0 && this.runFlags[k] === flags && this.runStart[k] + this.runLen[k] === vpn) {
      this.runLen[k]++;
      return;
    }
    if (this.nrRuns === this.runStart.length) {
      this.runStart = grow(this.runStart);
      this.runLen = grow(this.runLen);
      this.runFlags = grow(this.runFlags);
    }
    this.runStart[this.nrRuns] = vpn;
    this.runLen[this.nrRuns] = 1;
    this.runFlags[this.nrRuns++] = flags;
  }

  /** The runs as typed arrays (views, valid until the next add): what entries() makes objects of. */
  runs(): { n: number; start: Float64Array; len: Int32Array; flags: Uint8Array } {
    return { n: this.nrRuns, start: this.runStart, len: this.runLen, flags: this.runFlags };
  }

  /** The pagemap entries: one per run. */
  entries(): PagemapEntry[] {
    const out: PagemapEntry[] = [];
    for (let i = 0; i < this.nrRuns; i++) out.push({ vaddr: this.runStart[i], nr_pages: this.runLen[i], flags: this.runFlags[i] });
    return out;
  }
}

function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}
