/**
 * A set of pages as disjoint runs in typed arrays (no number per page), in the order they are
 * sent: QEMU's migration bitmap as tracker keeps it between syncs. QEMU's page search goes on from
 * where it stopped and wraps at the end of RAM (ram_find_and_save_block from last_seen_block /
 * last_page, find_dirty_block's complete_round), so after a sync the set is kept in address order
 * starting at that position. What has not been sent is what ram_state_pending_estimate() counts.
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

  /** The page after the last one sent: where QEMU's page search goes on from. */
  get position(): number {
    if (this.runAt >= this.n) return this.n > 0 ? this.start[this.n - 1] + this.len[this.n - 1] : 0;
    return this.start[this.runAt] + this.offAt;
  }

  /** The unsent pages as runs, in the order they will be sent. */
  forEachUnsent(cb: (start: number, len: number) => void): void {
    for (let i = this.runAt; i < this.n; i++) {
      const off = i === this.runAt ? this.offAt : 0;
      if (this.len[i] > off) cb(this.start[i] + off, this.len[i] - off);
    }
  }

  /**
   * The unsent part of this set united with `other` (in address order): the set after a sync,
   * to be sent from this set's position on, wrapping at the end. Runs stay in typed arrays: a
   * guest's dirty set can be millions of runs.
   */
  unsentUnion(other: PageRuns): PageRuns {
    const from = this.position;
    // This set's unsent runs are in send order: sorted, or sorted from `position` and wrapped once.
    // At most one unsent run per run from runAt on.
    const cap = Math.max(0, this.n - this.runAt);
    const sBuf = new Float64Array(cap);
    const eBuf = new Float64Array(cap);
    let n = 0;
    this.forEachUnsent((st, l) => {
      sBuf[n] = st;
      eBuf[n++] = st + l;
    });
    const s0 = sBuf.subarray(0, n);
    const e0 = eBuf.subarray(0, n);
    let wraps = 0;
    let cut = n;
    for (let i = 1; i < n; i++) {
      if (s0[i] < s0[i - 1]) {
        wraps++;
        cut = i;
      }
    }
    let as: Float64Array;
    let ae: Float64Array;
    if (wraps === 0) {
      as = s0;
      ae = e0;
    } else if (wraps === 1) {
      as = new Float64Array(n);
      ae = new Float64Array(n);
      mergeRuns(s0.subarray(cut), e0.subarray(cut), s0.subarray(0, cut), e0.subarray(0, cut), (st, e, at) => {
        as[at] = st;
        ae[at] = e;
      });
    } else {
      const order = new Uint32Array(n).map((_, i) => i).sort((x, y) => s0[x] - s0[y]);
      as = Float64Array.from(order, (i) => s0[i]);
      ae = Float64Array.from(order, (i) => e0[i]);
    }
    // United with `other` (address order), overlapping and touching runs joined.
    const ms = new Float64Array(n + other.n);
    const me = new Float64Array(n + other.n);
    let m = 0;
    const os = other.start.subarray(0, other.n);
    const oe = new Float64Array(other.n);
    for (let i = 0; i < other.n; i++) oe[i] = other.start[i] + other.len[i];
    mergeRuns(as, ae, os, oe, (st, e) => {
      if (m > 0 && me[m - 1] >= st) {
        if (e > me[m - 1]) me[m - 1] = e;
      } else {
        ms[m] = st;
        me[m++] = e;
      }
    });
    const out = new PageRuns(m + 2);
    for (let i = 0; i < m; i++) if (me[i] > from) out.push(Math.max(ms[i], from), me[i] - Math.max(ms[i], from));
    for (let i = 0; i < m; i++) if (ms[i] < from) out.push(ms[i], Math.min(me[i], from) - ms[i]);
    return out;
  }
}

/** Two lists of runs, each sorted by start, visited in order of start (`at` counts the runs visited). */
function mergeRuns(as: Float64Array, ae: Float64Array, bs: Float64Array, be: Float64Array, visit: (start: number, end: number, at: number) => void): void {
  let i = 0;
  let j = 0;
  let at = 0;
  while (i < as.length || j < bs.length) {
    if (j >= bs.length || (i < as.length && as[i] <= bs[j])) {
      visit(as[i], ae[i], at++);
      i++;
    } else {
      visit(bs[j], be[j], at++);
      j++;
    }
  }
}
