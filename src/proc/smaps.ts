/** /proc/PID/smaps and /proc/PID/maps (fs/proc/task_mmu.c show_map_vma, show_smap). */
import type { Mm } from '../mm/mm.js';
import { PG_anon } from '../mm/page-alloc.js';
import { walkPageRange } from '../mm/pagewalk.js';
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_SPECIAL, PAGE_SIZE } from '../mm/pgtable-types.js';
import { VM_EXEC, VM_MAYSHARE, VM_READ, VM_SOFTDIRTY, VM_WRITE, type Vma, vmFlagsString } from '../mm/vma.js';

export interface SmapsEntry {
  /** First page and end page (exclusive) of the VMA. */
  start: number;
  end: number;
  perms: string;
  pgoff: number;
  path: string;
  rssKb: number;
  swapKb: number;
  anonymousKb: number;
  anonHugeKb: number;
  vmFlags: string;
  softDirty: boolean;
}

function perms(vma: Vma): string {
  return (
    ((vma.flags & VM_READ) !== 0 ? 'r' : '-') +
    ((vma.flags & VM_WRITE) !== 0 ? 'w' : '-') +
    ((vma.flags & VM_EXEC) !== 0 ? 'x' : '-') +
    ((vma.flags & VM_MAYSHARE) !== 0 ? 's' : 'p')
  );
}

function vmaPath(vma: Vma): string {
  return vma.file !== null ? vma.file.name : '';
}

/** smap_gather_stats() for one VMA. */
export function smapsVma(mm: Mm, vma: Vma): SmapsEntry {
  let rss = 0;
  let swap = 0;
  let anon = 0;
  let anonHuge = 0;
  const mem = mm.mem;
  walkPageRange(mm, vma.start, vma.end, {
    pmdEntry(pmd, from, to) {
      const e = mm.pt.lo[pmd];
      const head = (e >>> 12) | (mm.pt.hi[pmd] << 20);
      // smaps_pmd_entry(): 6.1's follow_trans_huge_pmd(FOLL_DUMP) refuses a PROT_NONE PMD.
      if ((e & _PAGE_PRESENT) === 0 && !mm.profile.smapsProtNoneThp) return true;
      if (!mem.isZero(head)) {
        rss += to - from;
        if ((mem.flags[head] & PG_anon) !== 0) {
          anon += to - from;
          anonHuge += to - from;
        }
      }
      return true;
    },
    pteRange(slot, from, to) {
      const lo = mm.pt.lo;
      const hi = mm.pt.hi;
      for (let i = 0; i < to - from; i++) {
        const e = lo[slot + i];
        if ((e & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
          if ((e & _PAGE_SPECIAL) !== 0) continue;
          rss++;
          if ((mem.flags[(e >>> 12) | (hi[slot + i] << 20)] & PG_anon) !== 0) anon++;
        } else if (e !== 0 || hi[slot + i] !== 0) {
          swap++;
        }
      }
    },
  });
  const kb = PAGE_SIZE / 1024;
  return {
    start: vma.start,
    end: vma.end,
    perms: perms(vma),
    pgoff: vma.kind === 'anon' ? vma.pgoff : vma.pgoff,
    path: vmaPath(vma),
    rssKb: rss * kb,
    swapKb: swap * kb,
    anonymousKb: anon * kb,
    anonHugeKb: anonHuge * kb,
    vmFlags: vmFlagsString(mm.profile.vmSoftDirty ? vma.flags : vma.flags & ~VM_SOFTDIRTY),
    softDirty: mm.profile.vmSoftDirty && (vma.flags & VM_SOFTDIRTY) !== 0,
  };
}

export function smaps(mm: Mm): SmapsEntry[] {
  return mm.vmas.map((v) => smapsVma(mm, v));
}

function hex(vpn: number): string {
  return (vpn * PAGE_SIZE).toString(16).padStart(8, '0');
}

function mapsLine(e: SmapsEntry): string {
  const off = (e.path === '' ? 0 : e.pgoff * PAGE_SIZE).toString(16).padStart(8, '0');
  const head = `${hex(e.start)}-${hex(e.end)} ${e.perms} ${off} 00:00 0`;
  return e.path === '' ? head : `${head.padEnd(73)}${e.path}`;
}

/** The text of /proc/PID/maps. */
export function mapsText(mm: Mm): string {
  return smaps(mm)
    .map((e) => mapsLine(e) + '\n')
    .join('');
}

/** The text of /proc/PID/smaps (the fields tracker emulates). */
export function smapsText(mm: Mm): string {
  return smaps(mm)
    .map(
      (e) =>
        `${mapsLine(e)}\n` +
        `Size:           ${String((e.end - e.start) * 4).padStart(8)} kB\n` +
        `Rss:            ${String(e.rssKb).padStart(8)} kB\n` +
        `Anonymous:      ${String(e.anonymousKb).padStart(8)} kB\n` +
        `AnonHugePages:  ${String(e.anonHugeKb).padStart(8)} kB\n` +
        `Swap:           ${String(e.swapKb).padStart(8)} kB\n` +
        `VmFlags: ${e.vmFlags} \n`,
    )
    .join('');
}
