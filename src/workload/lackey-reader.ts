/**
 * A synchronous reader of Valgrind Lackey traces (`valgrind --tool=lackey --trace-mem=yes`):
 *
 *   I  04010a0c,3          instruction fetch (leading space: one; data accesses: one before)
 *    S 1ffefff8a8,8        store
 *    L 04022d68,8          load
 *    M 0402a070,4          modify (load and store)
 *
 * Valgrind's own lines ("==PID== …", "--PID-- …") and blank lines are skipped; any other line is
 * refused with the file and the line number (exit 2), and so is a file with no record at all. A
 * trace is recognised by its content, whatever its name: gzip by its magic bytes, text by its
 * first lines (probe()).
 *
 * run() is synchronous and Node's streams are not, so instead of readline over a read stream:
 *  - plain-text traces are streamed with positional fs.readSync in 1 MiB chunks, never whole;
 *  - .gz traces are inflated as a stream by a worker thread (GunzipSource), 1 MiB at a time.
 * Records are parsed from the bytes (no string per line). `offset` is the byte offset, in the
 * (decompressed) trace, of the next unread line: a resumed process reopens the file there.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import { GunzipError, GunzipSource } from './gunzip-source.js';

export const LACKEY_INSTR = 1;
export const LACKEY_LOAD = 2;
export const LACKEY_STORE = 3;
export const LACKEY_MODIFY = 4;
/** next() at the end of the trace. */
export const LACKEY_END = -1;

const CHUNK_BYTES = 1024 * 1024;

/** Hex digit value of a byte, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

/** Whether a file starts with the gzip magic bytes (1f 8b). */
export function isGzipFile(file: string): boolean {
  let fd = -1;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function ioMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? e);
}

export class LackeyReader {
  /** Address and size of the record next() returned last. */
  addr = 0;
  size = 0;
  private buf: Buffer;
  private len = 0;
  private pos = 0;
  /** Offset in the trace of buf[0]. */
  private base: number;
  private eof = false;
  /** Line number of the last line read (1-based), or -1 when unknown (a reader resumed at an offset). */
  private line: number;
  /** For .gz traces: the inflating stream (plain text is read by position instead). */
  private readonly gz: GunzipSource | null;

  constructor(
    readonly file: string,
    offset = 0,
  ) {
    try {
      statSync(file);
    } catch (e) {
      throw new InputError(`cannot read Lackey trace ${file}: ${ioMessage(e)}`);
    }
    this.buf = Buffer.allocUnsafe(CHUNK_BYTES);
    this.base = offset;
    this.line = offset === 0 ? 0 : -1;
    this.gz = isGzipFile(file) ? new GunzipSource(file) : null;
    if (this.gz !== null) {
      this.guard(() => this.gz!.skip(offset));
      // Read the first piece now, so a file that is not gzip is refused when it is opened.
      this.refill();
    }
  }

  /** Byte offset of the next unread line. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** The next record's kind (LACKEY_*, address and size in this.addr / this.size), or LACKEY_END. */
  next(): number {
    for (;;) {
      const buf = this.buf;
      const start = this.pos;
      let end = buf.indexOf(10, start);
      if (end < 0 || end >= this.len) {
        if (!this.eof) {
          this.refill();
          continue;
        }
        if (start >= this.len) return LACKEY_END;
        end = this.len;
      }
      this.pos = end + 1;
      if (this.line >= 0) this.line++;
      const kind = this.parse(start, end);
      if (kind !== 0) return kind;
      if (!this.skippable(start, end)) throw this.badLine(start, end, this.line, this.base + start);
    }
  }

  /**
   * Check, without consuming anything, that the trace starts like a Lackey trace: its first 1 MiB
   * holds a record before any line that is not one, or the whole file is Valgrind's lines only.
   */
  probe(): void {
    let line = this.line;
    let start = this.pos;
    for (;;) {
      const buf = this.buf;
      let end = buf.indexOf(10, start);
      if (end < 0 || end >= this.len) {
        if (!this.eof && this.len - this.pos < CHUNK_BYTES) {
          const scanned = start - this.pos;
          this.refill();
          start = this.pos + scanned;
          continue;
        }
        if (!this.eof || start >= this.len) break;
        end = this.len;
      }
      if (line >= 0) line++;
      if (this.parse(start, end) !== 0) return;
      if (!this.skippable(start, end)) throw this.badLine(start, end, line, this.base + start);
      start = end + 1;
    }
    throw new InputError(`${this.file}: not a Lackey trace: no trace record (I, L, S or M lines from valgrind --tool=lackey --trace-mem=yes)${this.eof ? '' : ' in its first MiB'}`);
  }

  /** Blank lines and Valgrind's own "==PID==" and "--PID--" lines. */
  private skippable(i: number, end: number): boolean {
    const buf = this.buf;
    if (end > i && buf[end - 1] === 13) end--;
    let j = i;
    while (j < end && (buf[j] === 32 || buf[j] === 9)) j++;
    if (j === end) return true;
    const c = buf[i];
    if ((c !== 61 && c !== 45) || buf[i + 1] !== c) return false; // '==' or '--'
    let k = i + 2;
    while (k < end && buf[k] >= 48 && buf[k] <= 57) k++;
    return k > i + 2 && k + 1 < end && buf[k] === c && buf[k + 1] === c;
  }

  private badLine(start: number, end: number, line: number, offset: number): InputError {
    const text = this.buf.toString('latin1', start, Math.min(end, start + 60)).replace(/[^\x20-\x7e]/g, '?');
    const where = line >= 0 ? `${this.file}:${line}` : `${this.file} (byte ${offset})`;
    return new InputError(`${where}: not a Lackey trace record: '${text}'${end - start > 60 ? '…' : ''} (expected I, L, S or M lines from valgrind --tool=lackey --trace-mem=yes)`);
  }

  /** Parse the line [i, end); 0 if it is not a trace record. */
  private parse(i: number, end: number): number {
    const buf = this.buf;
    if (end > i && buf[end - 1] === 13) end--;
    while (i < end && buf[i] === 32) i++;
    if (i + 2 >= end) return 0;
    const c = buf[i];
    const kind = c === 73 ? LACKEY_INSTR : c === 76 ? LACKEY_LOAD : c === 83 ? LACKEY_STORE : c === 77 ? LACKEY_MODIFY : 0;
    if (kind === 0 || buf[i + 1] !== 32) return 0;
    i += 2;
    while (i < end && buf[i] === 32) i++;
    let addr = 0;
    const first = i;
    for (; i < end; i++) {
      const d = HEX[buf[i]];
      if (d < 0) break;
      addr = addr * 16 + d;
    }
    if (i === first || i >= end || buf[i] !== 44) return 0;
    i++;
    let size = 0;
    const sizeFirst = i;
    for (; i < end; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) break;
      size = size * 10 + d;
    }
    if (i !== end || i === sizeFirst) return 0;
    this.addr = addr;
    this.size = size;
    return kind;
  }

  /** Keep the unread tail, read the next chunk behind it (the file is opened only for the read). */
  private refill(): void {
    const tail = this.len - this.pos;
    if (tail === this.buf.length) {
      // A line longer than the buffer: make room rather than split it.
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    } else if (this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.len);
    }
    this.base += this.pos;
    this.pos = 0;
    this.len = tail;
    const n = this.gz !== null ? this.guard(() => this.gz!.read(this.buf, tail, this.buf.length - tail)) : this.readAt(tail);
    if (n === 0) this.eof = true;
    this.len += n;
  }

  private readAt(tail: number): number {
    let fd = -1;
    try {
      fd = openSync(this.file, 'r');
      return readSync(fd, this.buf, tail, this.buf.length - tail, this.base + tail);
    } catch (e) {
      throw new InputError(`cannot read Lackey trace ${this.file}: ${ioMessage(e)}`);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof GunzipError) throw new InputError(`Lackey trace ${this.file}: not a valid gzip file (${e.message})`);
      throw e;
    }
  }
}
