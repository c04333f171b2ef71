import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_USER, PTRS_PER_TABLE } from './pgtable-types.js';

/**
 * A 4-level x86-64 page table (PGD -> PUD -> PMD -> PTE, 512 entries a level) for one mm.
 * All tables of the mm live in one pool: table t owns slots [t*512, t*512+512) of `lo` and `hi`.
 * An upper-level entry holds the number of the table below in its PFN field.
 *
 * How a virtual page number (vpn, address >> 12, 36 bits) splits into table indexes:
 *   vpn: 35 ... 27 | 26 ... 18 | 17 ... 9 | 8 ... 0
 *        pgd index | pud index | pmd index | pte index
 */
const TABLE_ENTRY = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
const PUD_SPAN = 262144; // pages covered by one PUD entry: 2^18

export class PageTable {
  lo: Int32Array;
  hi: Int32Array;
  private nrTables = 1;
  private freeTables: number[] = [];
  /** Tables in use, PGD included: the page-table memory the kernel would report (VmPTE). */
  tablesInUse = 1;
  /** Bumped whenever a table is freed or moved, so cached slots can be dropped. */
  generation = 0;

  constructor(initialTables = 64) {
    this.lo = new Int32Array(initialTables * PTRS_PER_TABLE);
    this.hi = new Int32Array(initialTables * PTRS_PER_TABLE);
  }

  private allocTable(): number {
    this.tablesInUse++;
    const t = this.freeTables.pop();
    if (t !== undefined) return t;
    const id = this.nrTables++;
    if (id * PTRS_PER_TABLE >= this.lo.length) {
      const lo = new Int32Array(this.lo.length * 2);
      lo.set(this.lo);
      const hi = new Int32Array(this.hi.length * 2);
      hi.set(this.hi);
      this.lo = lo;
      this.hi = hi;
    }
    return id;
  }

  /** Free a table whose entries are all none. */
  freeTable(t: number): void {
    this.tablesInUse--;
    this.freeTables.push(t);
    this.generation++;
  }

  /** Slot of the PUD entry for vpn; -1 if its table is missing and `alloc` is false. */
  pudSlot(vpn: number, alloc: boolean): number {
    const top = Math.floor(vpn / PUD_SPAN);
    const pgdSlot = (top >>> 9) & 511;
    let e = this.lo[pgdSlot];
    if (e === 0) {
      if (!alloc) return -1;
      const t = this.allocTable();
      e = this.lo[pgdSlot] = (t << 12) | TABLE_ENTRY;
    }
    return ((e >>> 12) << 9) | (top & 511);
  }

  /** Slot of the PMD entry for vpn; -1 if a table on the way is missing and `alloc` is false. */
  pmdSlot(vpn: number, alloc: boolean): number {
    const pud = this.pudSlot(vpn, alloc);
    if (pud < 0) return -1;
    let e = this.lo[pud];
    if (e === 0) {
      if (!alloc) return -1;
      const t = this.allocTable();
      e = this.lo[pud] = (t << 12) | TABLE_ENTRY;
    }
    return ((e >>> 12) << 9) | ((vpn >>> 9) & 511);
  }

  /** True if the PMD entry maps a huge page (PSE) rather than a pte table. */
  pmdIsHuge(pmdSlot: number): boolean {
    return (this.lo[pmdSlot] & _PAGE_PSE) !== 0;
  }

  /** Slot of the first pte of the pte table under a non-huge PMD entry, allocating the table. */
  pteTable(pmdSlot: number, alloc: boolean): number {
    let e = this.lo[pmdSlot];
    if (e === 0) {
      if (!alloc) return -1;
      const t = this.allocTable();
      e = this.lo[pmdSlot] = (t << 12) | TABLE_ENTRY;
    }
    return (e >>> 12) << 9;
  }

  /** Slot of the pte for vpn (the PMD must not be huge); -1 if missing and `alloc` is false. */
  pteSlot(vpn: number, alloc: boolean): number {
    const pmd = this.pmdSlot(vpn, alloc);
    if (pmd < 0) return -1;
    const base = this.pteTable(pmd, alloc);
    if (base < 0) return -1;
    return base | (vpn & 511);
  }

  /** Detach the pte table under a PMD entry, leaving the entry none; returns the table's first slot. */
  detachPteTable(pmdSlot: number): number {
    const base = (this.lo[pmdSlot] >>> 12) << 9;
    this.lo[pmdSlot] = 0;
    this.hi[pmdSlot] = 0;
    return base;
  }

  /** Give a PMD entry a fresh pte table; returns its first slot. */
  installPteTable(pmdSlot: number): number {
    const t = this.allocTable();
    this.lo[pmdSlot] = (t << 12) | TABLE_ENTRY;
    this.hi[pmdSlot] = 0;
    return t << 9;
  }

  /** Attach an existing pte table (given by its first slot) to a PMD entry: move_normal_pmd(). */
  attachPteTable(pmdSlot: number, base: number): void {
    this.lo[pmdSlot] = ((base >>> 9) << 12) | TABLE_ENTRY;
    this.hi[pmdSlot] = 0;
    this.generation++;
  }

  tableIsEmpty(base: number): boolean {
    const lo = this.lo;
    const hi = this.hi;
    for (let i = 0; i < PTRS_PER_TABLE; i++) if (lo[base + i] !== 0 || hi[base + i] !== 0) return false;
    return true;
  }
}
