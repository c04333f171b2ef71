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
   * to be sent from this set's position on, wrapping at the end.
   */
  unsentUnion(other: PageRuns): PageRuns {
    const from = this.position;
    const a: [number, number][] = [];
    this.forEachUnsent((s, l) => a.push([s, s + l]));
    a.sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    let i = 0;
    let j = 0;
    const add = (s: number, e: number) => {
      const last = merged[merged.length - 1];
      if (last !== undefined && last[1] >= s) {
        if (e > last[1]) last[1] = e;
      } else merged.push([s, e]);
    };
    while (i < a.length || j < other.n) {
      if (j >= other.n || (i < a.length && a[i][0] <= other.start[j])) {
        add(a[i][0], a[i][1]);
        i++;
      } else {
        add(other.start[j], other.start[j] + other.len[j]);
        j++;
      }
    }
    const out = new PageRuns(merged.length + 2);
    for (const [s, e] of merged) if (e > from) out.push(Math.max(s, from), e - Math.max(s, from));
    for (const [s, e] of merged) if (s < from) out.push(s, Math.min(e, from) - s);
    return out;
  }
}
