/**
 * A set of pages as sorted, disjoint runs in typed arrays (no number per page): QEMU's migration
 * bitmap as tracker keeps it between syncs. A cursor marks how much of the set has been sent; the
 * part after it is what ram_state_pending_estimate() counts.
 */
export class PageRuns {
  start: Float64Array;
  len: Float64Array;
  n = 0;
  /** Pages in the set. */
  pages = 0;
  /** Sent so far: whole runs before `runAt`, and `offAt` pages of run `runAt`. */
  private runAt = 0;
  private offAt = 0;
  sent = 0;

  constructor(capacity = 16) {
    this.start = new Float64Array(capacity);
    this.len = new Float64Array(capacity);
  }

  static of(start: ArrayLike<number>, len: ArrayLike<number>, count: number): PageRuns {
    const r = new PageRuns(Math.max(16, count));
    for (let i = 0; i < count; i++) r.push(start[i], len[i]);
    return r;
  }

  /** Append a run after every run already in the set (address order). */
  push(start: number, len: number): void {
    if (len <= 0) return;
    const k = this.n - 1;
    if (k >= 0 && this.start[k] + this.len[k] === start) {
      this.len[k] += len;
    } else {
      if (this.n === this.start.length) {
        const s = new Float64Array(this.n * 2);
        s.set(this.start);
        this.start = s;
        const l = new Float64Array(this.n * 2);
        l.set(this.len);
        this.len = l;
      }
      this.start[this.n] = start;
      this.len[this.n++] = len;
    }
    this.pages += len;
  }

  get unsent(): number {
    return this.pages - this.sent;
  }

  /** Mark up to `pages` more pages sent, in address order; returns how many were. */
  send(pages: number): number {
    let left = Math.min(pages, this.unsent);
    const done = left;
    while (left > 0) {
      const room = this.len[this.runAt] - this.offAt;
      if (left < room) {
        this.offAt += left;
        left = 0;
      } else {
        left -= room;
        this.runAt++;
        this.offAt = 0;
      }
    }
    this.sent += done;
    return done;
  }

  /** The unsent pages as runs, in address order. */
  forEachUnsent(cb: (start: number, len: number) => void): void {
    for (let i = this.runAt; i < this.n; i++) {
      const off = i === this.runAt ? this.offAt : 0;
      if (this.len[i] > off) cb(this.start[i] + off, this.len[i] - off);
    }
  }

  /** The unsent part of this set united with `other` (both in address order): the set after a sync. */
  unsentUnion(other: PageRuns): PageRuns {
    const a: [number, number][] = [];
    this.forEachUnsent((s, l) => a.push([s, l]));
    const out = new PageRuns(a.length + other.n + 1);
    let i = 0;
    let j = 0;
    let curS = -1;
    let curE = -1;
    const add = (s: number, e: number) => {
      if (curE >= s) {
        if (e > curE) curE = e;
        return;
      }
      if (curE > curS) out.push(curS, curE - curS);
      curS = s;
      curE = e;
    };
    while (i < a.length || j < other.n) {
      if (j >= other.n || (i < a.length && a[i][0] <= other.start[j])) {
        add(a[i][0], a[i][0] + a[i][1]);
        i++;
      } else {
        add(other.start[j], other.start[j] + other.len[j]);
        j++;
      }
    }
    if (curE > curS) out.push(curS, curE - curS);
    return out;
  }
}
