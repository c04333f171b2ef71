/**
 * Seeded random op scripts over the whole op language (../shared/spec/ops-language.md), for
 * recording on the real kernel (test/oracle/record.sh) and replaying as regression tests.
 *
 *   node dist/test/oracle/generate.js OUTDIR [COUNT=240] [SEED=1] [--uffd]
 *
 * writes OUTDIR/r-SEED-NNNN.ops (40-260 ops each); with --uffd, OUTDIR/w-SEED-NNNN.ops, scripts
 * about userfaultfd write-protection and PAGEMAP_SCAN (generateUffdScript()); with --merge,
 * OUTDIR/v-SEED-NNNN.ops, scripts about VMA merges (generateMergeScript()). The same seed always gives the same scripts. Every script mixes
 * anonymous, shared and private file mappings (some THP-sized with `huge`, some placed with `at=`
 * next to or over others), writes and reads, clear_refs (mostly 4, sometimes other values),
 * mprotect, munmap, mremap (grow, shrink, move, over several VMAs and holes), every madvise advice
 * on whole and partial ranges, nested fork ... endchild blocks, and pagemap/smaps observations.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** mulberry32: small, fast, and the same on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Mapping {
  name: string;
  pages: number;
  kind: 'anon' | 'shared' | 'file';
}

export function generateScript(seed: number): string {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const chance = (p: number): boolean => r() < p;
  const lines: string[] = [`# random scenario, seed ${seed}`];
  // Names known in each process level: a child's new names die with it.
  const stack: Mapping[][] = [];
  let maps: Mapping[] = [];
  let nameSeq = 0;
  const nops = chance(0.7) ? int(40, 140) : int(140, 260);
  let depth = 0;
  let childOps = 0;

  const sizeFor = (huge: boolean): number => {
    if (huge) return pick([512, 1024, 1024, 1536, 600, 520]);
    return pick([1, 2, 3, 4, 5, 8, 8, 12, 16, 16, 24, 32, 64, 512]);
  };
  const range = (m: Mapping): [number, number] => {
    const p = Math.max(1, m.pages);
    if (chance(0.25)) return [0, p];
    if (p >= 512 && chance(0.5)) {
      // THP-relevant ranges: whole PMDs, halves, single pages inside a PMD
      const base = pick([0, 512].filter((b) => b < p));
      return pick<[number, number]>([
        [base, Math.min(512, p - base)],
        [base + int(0, 511) % p, int(1, 40)],
        [base + 256, 256],
        [base, int(1, 300)],
      ]);
    }
    const first = int(0, p - 1);
    return [first, int(1, Math.max(1, p - first + (chance(0.1) ? 4 : 0)))];
  };
  const newMmap = (): void => {
    const kind = pick(['anon', 'anon', 'anon', 'shared', 'file'] as const);
    const huge = kind === 'anon' ? chance(0.35) : chance(0.05);
    const pages = sizeFor(huge);
    const prot = pick(['rw', 'rw', 'rw', 'rw', 'r', 'none']);
    const reuse = maps.length > 0 && chance(0.1);
    const name = reuse ? pick(maps).name : `m${nameSeq++}`;
    let at = '';
    if (maps.length > 0 && chance(0.25)) {
      const o = pick(maps);
      at = ` at=${o.name}` + pick(['', `+${o.pages}`, `+${int(0, o.pages)}`, `+${o.pages + int(0, 2)}`]).replace(/\+0$/, '');
    }
    lines.push(`mmap ${name} ${pages} ${prot} ${kind}${huge ? ' huge' : ''}${at}`);
    maps = maps.filter((m) => m.name !== name);
    maps.push({ name, pages, kind });
  };
  const observe = (m: Mapping): void => {
    lines.push(`${chance(0.6) ? 'pagemap' : 'smaps'} ${m.name}`);
  };

  newMmap();
  for (let i = 0; i < nops; i++) {
    if (maps.length === 0 || chance(0.07)) {
      newMmap();
      continue;
    }
    const m = pick(maps);
    const x = r();
    if (x < 0.22) {
      const [f, c] = range(m);
      // zero bytes matter: a split THP maps zero-filled subpages to the zero page on 6.12
      lines.push(`write ${m.name} ${f} ${c}` + (chance(m.pages >= 512 ? 0.25 : 0.1) ? ` ${pick(['0x0', '0x0', '0x55', '7'])}` : ''));
    } else if (x < 0.3) {
      const [f, c] = range(m);
      lines.push(`read ${m.name} ${f} ${c}`);
    } else if (x < 0.4) {
      lines.push(`clear_refs ${chance(0.9) ? '4' : pick(['1', '2', '3', '5', '6', '"4\\n"', 'x'])}`);
    } else if (x < 0.47) {
      const [f, c] = range(m);
      lines.push(`mprotect ${m.name} ${f} ${c} ${pick(['r', 'rw', 'rw', 'none'])}`);
    } else if (x < 0.51) {
      const [f, c] = range(m);
      lines.push(`munmap ${m.name} ${f} ${c}`);
    } else if (x < 0.57) {
      const np = pick([1, 2, Math.max(1, m.pages >> 1), m.pages + 1, m.pages + int(1, 16), m.pages * 2, 512, 1024, Math.max(1, m.pages - 1)]);
      const move = chance(0.5);
      lines.push(`mremap ${m.name} ${np}${move ? ' move' : ''}`);
      m.pages = np;
    } else if (x < 0.7) {
      const [f, c] = range(m);
      const adv = pick(['dontneed', 'free', 'pageout', 'pageout', 'cold', 'willneed', 'remove', 'hugepage', 'nohugepage', 'free', 'pageout']);
      lines.push(`madvise ${m.name} ${f} ${c} ${adv}`);
    } else if (x < 0.76 && depth < 3 && chance(depth === 0 ? 1 : 0.4)) {
      lines.push('fork');
      stack.push(maps.map((q) => ({ ...q })));
      depth++;
      childOps = int(3, 20);
    } else if (x < 0.95) {
      observe(m);
    } else {
      newMmap();
    }
    if (depth > 0 && --childOps <= 0) {
      for (const q of maps) if (chance(0.3)) observe(q);
      lines.push('endchild');
      maps = stack.pop()!;
      depth--;
      childOps = depth > 0 ? int(1, 8) : 0;
    }
  }
  while (depth > 0) {
    lines.push('endchild');
    maps = stack.pop()!;
    depth--;
  }
  for (const m of maps) {
    lines.push(`pagemap ${m.name}`);
    lines.push(`smaps ${m.name}`);
  }
  return lines.join('\n') + '\n';
}

/** A seeded PAGEMAP_SCAN option list. */
function scanOptions(int: (lo: number, hi: number) => number, pick: <T>(xs: readonly T[]) => T, chance: (p: number) => boolean, count: number, allowNullVec: boolean): string {
  const cats = ['written', 'present', 'swapped', 'softdirty', 'file', 'pfnzero', 'huge', 'wpallowed'];
  const catList = (): string => {
    const n = int(1, 2);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(pick(cats));
    return [...new Set(out)].join(',');
  };
  const o: string[] = [];
  const style = int(0, 9);
  // CRIU's and the selftests' common shapes first: the written fast path, with or without WP.
  if (style <= 2) o.push('mask=written', 'return=written');
  else if (style === 3) o.push(`mask=${catList()}`);
  else if (style === 4) o.push(`anyof=${catList()}`);
  else if (style === 5) o.push(`inverted=written`, `mask=written`);
  else if (style === 6) o.push(`return=${catList()}`);
  if (chance(0.35)) o.push('wp');
  if (chance(0.08)) o.push('check');
  if (chance(0.12)) o.push(`max=${int(1, Math.max(1, count))}`);
  if (chance(0.12)) o.push(`vec=${int(1, 4)}`);
  else if (allowNullVec && o.includes('wp') && chance(0.3)) o.push('vec=0');
  if (chance(0.02)) o.push(pick(['size=95', 'flags=4', 'mask=guard', 'return=0x1ff']));
  return o.join(' ');
}

/**
 * A seeded script about userfaultfd write-protection and PAGEMAP_SCAN (20-90 ops): mappings of
 * every kind (some THP), registration of whole and partial ranges, protect / unprotect, scans with
 * the option shapes CRIU and the kernel selftests use, writes and reads on protected, empty and
 * swapped pages, clear_refs, madvise, mprotect, munmap, mremap, fork, and reopening the uffd with
 * other features. It never asks PM_SCAN_WP_MATCHING without a vector over a huge mapping (the
 * partial-THP backout would dereference the missing bounce buffer).
 */
export function generateUffdScript(seed: number): string {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const chance = (p: number): boolean => r() < p;
  const lines: string[] = [`# random userfaultfd / PAGEMAP_SCAN scenario, seed ${seed}`];
  interface M {
    name: string;
    pages: number;
    kind: 'anon' | 'shared' | 'file';
    huge: boolean;
  }
  let maps: M[] = [];
  const stack: M[][] = [];
  let seq = 0;
  let depth = 0;
  let childOps = 0;
  const rangeOf = (m: M): string => {
    if (chance(0.45)) return '';
    const first = int(0, Math.max(0, m.pages - 1));
    let count = int(1, Math.max(1, m.pages - first));
    if (chance(0.1)) count += int(1, 4); // past the end: into a neighbour or a hole
    return ` ${first} ${count}`;
  };
  const pagesOf = (m: M, range: string): number => (range === '' ? m.pages : Number(range.trim().split(' ')[1]));
  const newMmap = (): void => {
    const kind = pick(['anon', 'anon', 'anon', 'anon', 'shared', 'file'] as const);
    const huge = kind === 'anon' && chance(0.15);
    const pages = huge ? pick([512, 1024, 600]) : pick([1, 2, 4, 6, 8, 8, 12, 16, 16, 32]);
    const prot = pick(['rw', 'rw', 'rw', 'rw', 'rw', 'r', 'none']);
    const name = `m${seq++}`;
    let at = '';
    const targets = maps.filter((q) => !q.huge);
    if (!huge && targets.length > 0 && chance(0.2)) {
      const o = pick(targets);
      at = ` at=${o.name}` + pick(['', `+${o.pages}`, `+${int(1, o.pages)}`]);
    }
    lines.push(`mmap ${name} ${pages} ${prot} ${kind}${huge ? ' huge' : ''}${at}`);
    maps.push({ name, pages, kind, huge });
  };
  const nops = int(20, 90);
  newMmap();
  if (chance(0.5)) newMmap();
  if (chance(0.3)) lines.push(pick(['uffd_open async', 'uffd_open async unpopulated', 'uffd_open sigbus', 'uffd_open sigbus async', 'uffd_open async unpopulated sigbus']));
  for (let i = 0; i < nops; i++) {
    if (maps.length === 0 || chance(0.05)) {
      newMmap();
      continue;
    }
    const m = pick(maps);
    const x = r();
    if (x < 0.2) {
      const rg = rangeOf(m);
      lines.push(`write ${m.name}${rg === '' ? ` 0 ${m.pages}` : rg}`);
    } else if (x < 0.26) {
      const rg = rangeOf(m);
      lines.push(`read ${m.name}${rg === '' ? ` 0 ${m.pages}` : rg}`);
    } else if (x < 0.36) {
      lines.push(`uffd_register ${m.name}${rangeOf(m)}`);
    } else if (x < 0.46) {
      lines.push(`uffd_wp ${m.name}${rangeOf(m)} ${chance(0.8) ? 'on' : 'off'}`);
    } else if (x < 0.64) {
      const rg = rangeOf(m);
      const opts = scanOptions(int, pick, chance, pagesOf(m, rg), !maps.some((q) => q.huge));
      lines.push(`pagemap_scan ${m.name}${rg}${opts === '' ? '' : ` ${opts}`}`);
    } else if (x < 0.74) {
      lines.push(`pagemap ${m.name}`);
    } else if (x < 0.77) {
      lines.push(`smaps ${m.name}`);
    } else if (x < 0.8) {
      lines.push('clear_refs 4');
    } else if (x < 0.85) {
      const first = int(0, Math.max(0, m.pages - 1));
      lines.push(`madvise ${m.name} ${first} ${int(1, m.pages - first)} ${pick(['dontneed', 'pageout', 'pageout', 'free', 'cold'])}`);
    } else if (x < 0.87) {
      const first = int(0, Math.max(0, m.pages - 1));
      lines.push(`mprotect ${m.name} ${first} ${int(1, m.pages - first)} ${pick(['r', 'rw', 'rw', 'none'])}`);
    } else if (x < 0.88) {
      lines.push(`uffd_unregister ${m.name}${rangeOf(m)}`);
    } else if (x < 0.89) {
      const first = int(0, Math.max(0, m.pages - 1));
      lines.push(`munmap ${m.name} ${first} ${int(1, m.pages - first)}`);
    } else if (x < 0.9 && !m.huge) {
      const np = pick([m.pages + int(1, 8), Math.max(1, m.pages >> 1), m.pages * 2]);
      lines.push(`mremap ${m.name} ${np}${chance(0.5) ? ' move' : ''}`);
      m.pages = np;
    } else if (x < 0.92) {
      lines.push(chance(0.3) ? 'uffd_close' : pick(['uffd_open async', 'uffd_open async unpopulated', 'uffd_open sigbus', 'uffd_open sigbus async']));
    } else if (x < 0.95 && depth < 2) {
      lines.push('fork');
      stack.push(maps.map((q) => ({ ...q })));
      depth++;
      childOps = int(2, 10);
    } else {
      newMmap();
    }
    if (depth > 0 && --childOps <= 0) {
      lines.push(`pagemap ${pick(maps).name}`);
      lines.push('endchild');
      maps = stack.pop()!;
      depth--;
    }
  }
  while (depth-- > 0) lines.push('endchild');
  maps = stack.length > 0 ? stack[0] : maps;
  for (const m of maps) {
    lines.push(`pagemap ${m.name}`);
    lines.push(`pagemap_scan ${m.name}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * A seeded script about VMA merges: a 32-page container filled with adjacent mappings of random
 * kinds, protections, THP advice and anon_vma state (some written, clear_refs in between), then
 * mprotect / madvise / write / munmap over ranges that span several of them, with smaps and
 * pagemap of the whole container after each step.
 */
export function generateMergeScript(seed: number): string {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const lines = [`# random VMA-merge scenario, seed ${seed}`, 'mmap g 32 none anon'];
  let pos = 0;
  let k = 0;
  while (pos < 32) {
    const n = Math.min(pick([2, 3, 4, 4, 6, 8]), 32 - pos);
    const kind = pick(['anon', 'anon', 'anon', 'anon', 'anon', 'anon', 'shared', 'file']);
    const prot = pick(['rw', 'rw', 'r', 'none']);
    const name = `p${k++}`;
    if (r() < 0.8) {
      lines.push(`mmap ${name} ${n} ${prot} ${kind} at=g${pos > 0 ? `+${pos}` : ''}`);
      if (prot === 'rw' && r() < 0.6) lines.push(`write ${name} 0 ${int(1, n)}`);
      if (r() < 0.3) lines.push(`madvise ${name} 0 ${n} ${pick(['hugepage', 'nohugepage'])}`);
      if (r() < 0.2) lines.push('clear_refs 4');
    }
    pos += n;
  }
  lines.push('smaps g');
  let forked = false;
  const steps = int(6, 16);
  for (let i = 0; i < steps; i++) {
    const a = int(0, 31);
    const c = int(1, Math.min(12, 32 - a));
    const x = r();
    if (x < 0.45) lines.push(`mprotect g ${a} ${c} ${pick(['rw', 'rw', 'r', 'none'])}`);
    else if (x < 0.7) lines.push(`madvise g ${a} ${c} ${pick(['hugepage', 'nohugepage', 'dontneed'])}`);
    else if (x < 0.8) lines.push(`write g ${a} ${c}`);
    else if (x < 0.87) lines.push('clear_refs 4');
    else if (x < 0.9 && !forked) {
      lines.push('fork');
      forked = true;
    } else if (x < 0.95) lines.push(`read g ${a} ${c}`);
    else lines.push(`munmap g ${a} ${Math.min(c, 3)}`);
    lines.push('smaps g', 'pagemap g');
  }
  if (forked) lines.push('endchild');
  lines.push('smaps g', 'pagemap g');
  return lines.join('\n') + '\n';
}

function main(): void {
  const argv = process.argv.slice(2);
  const uffd = argv.includes('--uffd');
  const merge = argv.includes('--merge');
  const [out, countArg, seedArg] = argv.filter((a) => a !== '--uffd' && a !== '--merge');
  if (out === undefined) {
    process.stderr.write('usage: node dist/test/oracle/generate.js OUTDIR [COUNT=240] [SEED=1] [--uffd | --merge]\n');
    process.exit(2);
  }
  const count = Number(countArg ?? 240);
  const seed = Number(seedArg ?? 1);
  mkdirSync(out, { recursive: true });
  for (let i = 0; i < count; i++) {
    const s = seed * 100000 + i;
    const name = `${uffd ? 'w' : merge ? 'v' : 'r'}-${seed}-${String(i).padStart(4, '0')}.ops`;
    writeFileSync(join(out, name), uffd ? generateUffdScript(s) : merge ? generateMergeScript(s) : generateScript(s));
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/.*\//, '/'))) main();
