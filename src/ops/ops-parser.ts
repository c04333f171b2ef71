/**
 * The op-script language (fixtures/spec/ops-language.md): one system call or memory access per
 * line. Parsing is strict: a line tracker cannot understand is the user's mistake, reported with
 * the file and line, before anything runs.
 */
import { isMadviseAdvice, type MadviseAdvice } from '../mm/madvise.js';

export type OpProt = 'none' | 'r' | 'rw';
export type OpKind = 'anon' | 'shared' | 'file';

export type Op =
  | { op: 'mmap'; line: number; name: string; pages: number; prot: OpProt; kind: OpKind; huge: boolean; at?: { name: string; offset: number } }
  | { op: 'write'; line: number; name: string; first: number; count: number; byte: number }
  | { op: 'read'; line: number; name: string; first: number; count: number }
  | { op: 'clear_refs'; line: number; value: string }
  | { op: 'mprotect'; line: number; name: string; first: number; count: number; prot: OpProt }
  | { op: 'munmap'; line: number; name: string; first: number; count: number }
  | { op: 'mremap'; line: number; name: string; pages: number; move: boolean }
  | { op: 'madvise'; line: number; name: string; first: number; count: number; advice: MadviseAdvice }
  | { op: 'fork'; line: number }
  | { op: 'endchild'; line: number }
  | { op: 'pagemap'; line: number; name: string }
  | { op: 'smaps'; line: number; name: string }
  | { op: 'uffd_open'; line: number; features: number }
  | { op: 'uffd_close'; line: number }
  | { op: 'uffd_register' | 'uffd_unregister'; line: number; name: string; range?: OpRange }
  | { op: 'uffd_wp'; line: number; name: string; range?: OpRange; on: boolean }
  | ({ op: 'pagemap_scan'; line: number; name: string; range?: OpRange } & PagemapScanOptions);

/** [FIRST COUNT]: pages of NAME; without it an op covers NAME's whole current range. */
export interface OpRange {
  first: number;
  count: number;
}

/** pagemap_scan's options, as struct pm_scan_arg fields (../shared/spec/uffd-and-pagemap-scan.md). */
export interface PagemapScanOptions {
  flags: number;
  mask: number;
  anyof: number;
  inverted: number;
  returnMask: number;
  maxPages: number;
  /** vec_len; undefined: COUNT. 0 passes a NULL vector. */
  vecLen?: number;
  size: number;
}

/** UFFD_FEATURE_* bits uffd_open's words name. */
export const UFFD_OPEN_WORDS: Readonly<Record<string, number>> = { async: 1 << 15, unpopulated: 1 << 13, sigbus: 1 << 7 };
/** PAGE_IS_* category names, bit i named CATEGORY_NAMES[i]. */
export const CATEGORY_NAMES = ['wpallowed', 'written', 'file', 'present', 'swapped', 'pfnzero', 'huge', 'softdirty', 'guard'] as const;

/** strtoull(s, &end, 0) over a whole token: decimal, 0x hex or 0 octal; undefined if not all of it. */
function cNumber(s: string): number | undefined {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = s.length === 1 ? 0 : parseInt(s.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(s)) v = Number(s);
  else return undefined;
  return Number.isSafeInteger(v) ? v : undefined;
}

export class OpsSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'OpsSyntaxError';
  }
}

/** Split a line into tokens; a token may be "quoted" with \n \t \r \\ \" escapes. */
function tokenize(text: string, fail: (m: string) => never): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) fail('unterminated quoted string');
        const d = text[i++];
        if (d === '"') break;
        if (d === '\\') {
          const esc = text[i++];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' };
          if (esc === undefined || !(esc in map)) fail(`unknown escape \\${esc ?? ''} in quoted string`);
          s += map[esc];
        } else s += d;
      }
      out.push(s);
      continue;
    }
    let j = i;
    while (j < text.length && text[j] !== ' ' && text[j] !== '\t') j++;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const PROTS: readonly string[] = ['none', 'r', 'rw'];
const KINDS: readonly string[] = ['anon', 'shared', 'file'];

/** CATS: category names and/or numbers, comma-separated. */
function parseCategories(s: string, fail: (m: string) => never): number {
  let v = 0;
  for (const w of s.split(',')) {
    if (w === '') continue;
    if (/^\d/.test(w)) {
      const n = cNumber(w);
      if (n === undefined) fail(`'${w}' is not a category number`);
      v |= n!;
      continue;
    }
    const i = (CATEGORY_NAMES as readonly string[]).indexOf(w);
    if (i < 0) fail(`unknown page category '${w}' (${CATEGORY_NAMES.join(', ')}, or a number)`);
    v |= 1 << i;
  }
  return v;
}

function parseScanOptions(words: string[], fail: (m: string) => never): PagemapScanOptions {
  // The reference runner's defaults: return_mask 0xff (the eight categories 6.12 accepts).
  const o: PagemapScanOptions = { flags: 0, mask: 0, anyof: 0, inverted: 0, returnMask: 0xff, maxPages: 0, size: 96 };
  const num = (w: string, prefix: string): number => {
    const v = cNumber(w.slice(prefix.length));
    if (v === undefined) fail(`'${w}' needs a number after ${prefix}`);
    return v!;
  };
  for (const w of words) {
    if (w === 'wp') o.flags |= 1;
    else if (w === 'check') o.flags |= 2;
    else if (w.startsWith('mask=')) o.mask = parseCategories(w.slice(5), fail);
    else if (w.startsWith('anyof=')) o.anyof = parseCategories(w.slice(6), fail);
    else if (w.startsWith('inverted=')) o.inverted = parseCategories(w.slice(9), fail);
    else if (w.startsWith('return=')) o.returnMask = parseCategories(w.slice(7), fail);
    else if (w.startsWith('max=')) o.maxPages = num(w, 'max=');
    else if (w.startsWith('vec=')) {
      o.vecLen = num(w, 'vec=');
      if (o.vecLen > 1 << 20) fail(`vec=${o.vecLen} is more than the runner allocates (${1 << 20})`);
    } else if (w.startsWith('flags=')) o.flags |= num(w, 'flags=');
    else if (w.startsWith('size=')) o.size = num(w, 'size=');
    else fail(`unknown pagemap_scan option '${w}' (wp check mask= anyof= inverted= return= max= vec= flags= size=)`);
  }
  return o;
}

export function parseOps(text: string, file: string): Op[] {
  const ops: Op[] = [];
  const lines = text.split(/\r?\n/);
  let depth = 0;
  // A name no earlier mmap line defines is a typo, refused here. Whether a defined name is mapped
  // when its op runs (its mmap may fail, a child's names die at endchild) is known only then: the
  // executor reports it as the reference runner does, errno 22.
  const known = new Set<string>();
  for (let n = 0; n < lines.length; n++) {
    const line = n + 1;
    const fail = (m: string): never => {
      throw new OpsSyntaxError(file, line, m);
    };
    const t = tokenize(lines[n], fail);
    if (t.length === 0) continue;
    const [op, ...args] = t;
    const count = (min: number, max: number): void => {
      if (args.length < min || args.length > max)
        fail(`'${op}' takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${args.length}`);
    };
    const name = (s: string): string => (NAME_RE.test(s) ? s : fail(`'${s}' is not a mapping name`));
    const known_ = (s: string): string => (known.has(name(s)) ? s : fail(`unknown mapping name '${s}' (no earlier mmap defines it)`));
    const int = (s: string, what: string, min = 0): number => {
      if (!/^\d+$/.test(s)) fail(`${what} must be a whole number, got '${s}'`);
      const v = Number(s);
      if (!Number.isSafeInteger(v) || v < min) fail(`${what} must be at least ${min}, got '${s}'`);
      return v;
    };
    const prot = (s: string): OpProt => (PROTS.includes(s) ? (s as OpProt) : fail(`protection must be none, r or rw, got '${s}'`));
    switch (op) {
      case 'mmap': {
        if (args.length < 4 || args.length > 6) fail(`'mmap' takes NAME PAGES PROT KIND [huge] [at=OTHER[+N]]`);
        const [nm, pages, pr, kind, ...rest] = args;
        if (!KINDS.includes(kind)) fail(`mapping kind must be anon, shared or file, got '${kind}'`);
        let huge = false;
        let at: { name: string; offset: number } | undefined;
        for (const r of rest) {
          if (r === 'huge' && !huge) huge = true;
          else if (r.startsWith('at=') && at === undefined) {
            const m = /^at=([^+]+)(?:\+(\d+))?$/.exec(r);
            if (m === null) fail(`'${r}' is not at=NAME or at=NAME+N`);
            at = { name: known_(m![1]), offset: m![2] === undefined ? 0 : int(m![2], 'at= offset') };
          } else fail(`unexpected '${r}' after mmap (expected huge or at=NAME[+N])`);
        }
        ops.push({ op, line, name: name(nm), pages: int(pages, 'PAGES', 1), prot: prot(pr), kind: kind as OpKind, huge, at });
        known.add(nm);
        break;
      }
      case 'write': {
        count(2, 4);
        let byte = 0xaa;
        if (args[3] !== undefined) {
          if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(args[3])) fail(`BYTE must be a number such as 0xAA, got '${args[3]}'`);
          byte = Number(args[3]);
          if (byte > 255) fail(`BYTE must be at most 0xff, got '${args[3]}'`);
        }
        ops.push({ op, line, name: known_(args[0]), first: int(args[1], 'FIRST'), count: args[2] === undefined ? 1 : int(args[2], 'COUNT'), byte });
        break;
      }
      case 'read':
        count(2, 3);
        ops.push({ op, line, name: known_(args[0]), first: int(args[1], 'FIRST'), count: args[2] === undefined ? 1 : int(args[2], 'COUNT') });
        break;
      case 'clear_refs':
        count(1, 1);
        ops.push({ op, line, value: args[0] });
        break;
      case 'mprotect':
        count(4, 4);
        ops.push({ op, line, name: known_(args[0]), first: int(args[1], 'FIRST'), count: int(args[2], 'COUNT'), prot: prot(args[3]) });
        break;
      case 'munmap':
        count(3, 3);
        ops.push({ op, line, name: known_(args[0]), first: int(args[1], 'FIRST'), count: int(args[2], 'COUNT') });
        break;
      case 'mremap':
        count(2, 3);
        if (args[2] !== undefined && args[2] !== 'move') fail(`expected 'move' after mremap NAME NEWPAGES, got '${args[2]}'`);
        ops.push({ op, line, name: known_(args[0]), pages: int(args[1], 'NEWPAGES'), move: args[2] === 'move' });
        break;
      case 'madvise': {
        count(4, 4);
        const adv = args[3];
        if (!isMadviseAdvice(adv)) fail(`unknown madvise advice '${adv}' (dontneed, free, pageout, cold, willneed, remove, hugepage, nohugepage)`);
        ops.push({ op, line, name: known_(args[0]), first: int(args[1], 'FIRST'), count: int(args[2], 'COUNT'), advice: adv as MadviseAdvice });
        break;
      }
      case 'fork':
        count(0, 0);
        depth++;
        ops.push({ op, line });
        break;
      case 'endchild':
        count(0, 0);
        if (depth === 0) fail("'endchild' without a 'fork'");
        depth--;
        ops.push({ op, line });
        break;
      case 'pagemap':
      case 'smaps':
        count(1, 1);
        ops.push({ op, line, name: known_(args[0]) });
        break;
      case 'uffd_open': {
        let features = 0;
        for (const w of args) {
          if (!(w in UFFD_OPEN_WORDS)) fail(`unknown uffd_open word '${w}' (async, unpopulated, sigbus)`);
          features |= UFFD_OPEN_WORDS[w];
        }
        // Without either, a write to a protected page would wait for a monitor that does not exist.
        if ((features & (UFFD_OPEN_WORDS.async | UFFD_OPEN_WORDS.sigbus)) === 0) fail(`'uffd_open' needs async or sigbus`);
        ops.push({ op, line, features });
        break;
      }
      case 'uffd_close':
        count(0, 0);
        ops.push({ op, line });
        break;
      case 'uffd_register':
      case 'uffd_unregister':
      case 'uffd_wp':
      case 'pagemap_scan': {
        if (args.length < 1) fail(`'${op}' needs a mapping name`);
        const nm = known_(args[0]);
        // parse_range(): two numbers after NAME are FIRST COUNT.
        let k = 1;
        let range: OpRange | undefined;
        if (args.length >= 3 && /^\d/.test(args[1]) && /^\d/.test(args[2])) {
          const first = cNumber(args[1]);
          const cnt = cNumber(args[2]);
          if (first === undefined || cnt === undefined) fail(`FIRST and COUNT must be numbers, got '${args[1]} ${args[2]}'`);
          range = { first: first!, count: cnt! };
          k = 3;
        }
        const rest = args.slice(k);
        if (op === 'uffd_register' || op === 'uffd_unregister') {
          if (rest.length > 0) fail(`unexpected '${rest[0]}' after ${op} NAME [FIRST COUNT]`);
          ops.push({ op, line, name: nm, range });
        } else if (op === 'uffd_wp') {
          if (rest.length !== 1 || (rest[0] !== 'on' && rest[0] !== 'off')) fail(`'uffd_wp' takes NAME [FIRST COUNT] on|off`);
          ops.push({ op, line, name: nm, range, on: rest[0] === 'on' });
        } else ops.push({ op: 'pagemap_scan', line, name: nm, range, ...parseScanOptions(rest, fail) });
        break;
      }
      default:
        fail(`unknown op '${op}'`);
    }
  }
  return ops;
}
