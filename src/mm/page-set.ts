/**
 * A set of virtual pages as bitmaps of 512 pages (one pte table's span), made as pages are added:
 * what it costs follows the tables written, not a number per page.
 */
export class PageSet {
  private readonly tables = new Map<number, Uint32Array>();
  private lastKey = -1;
  private last: Uint32Array | null = null;

  private table(key: number, make: boolean): Uint32Array | null {
    if (key === this.lastKey) return this.last;
    let t = this.tables.get(key) ?? null;
    if (t === null && make) {
      t = new Uint32Array(16);
      this.tables.set(key, t);
    }
    if (t !== null) {
      this.lastKey = key;
      this.last = t;
    }
    return t;
  }

  add(vpn: number): void {
    const t = this.table(Math.floor(vpn / 512), true)!;
    const i = vpn & 511;
    t[i >>> 5] |= 1 << (i & 31);
  }

  has(vpn: number): boolean {
    const t = this.table(Math.floor(vpn / 512), false);
    if (t === null) return false;
    const i = vpn & 511;
    return (t[i >>> 5] & (1 << (i & 31))) !== 0;
  }
}
