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
  | { op: 'smaps'; line: number; name: string };

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
      default:
        fail(`unknown op '${op}'`);
    }
  }
  return ops;
}
