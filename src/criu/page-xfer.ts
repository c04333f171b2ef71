/**
 * CRIU's page-xfer.c: where an iteration's images go. The dumper hands over the pagemap, the page
 * data (a stream of chunks, in pagemap order) and the other images; the transfer commits them as a
 * whole or aborts. `openLocalXfer` writes an images directory: everything under DIR/.N.tmp, each
 * file fsynced, then renamed to DIR/N and DIR fsynced. A page server is another PageXfer.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { IoError } from '../errors.js';
import { encodeImage, IMAGE_FILES, type ImageKind, fsyncDir, openPagesImage, type PagesWriter } from './image.js';
import type { PageCompression, PagemapEntry } from './schema.js';
import type { PagePipe } from './page-pipe.js';

export type { PagesWriter };

export interface PageXfer {
  /**
   * The iteration's pagemap: PE_PRESENT runs, whose data follows in this order, and PE_PARENT holes;
   * with `compression`, how the page data is compressed (page-compress.ts).
   */
  writePagemap(entries: readonly PagemapEntry[], compression?: PageCompression): void;
  /** Optional: the raw pagemap straight from the page-pipe, without an object per entry (counting). */
  writePagemapPipe?(pipe: PagePipe): void;
  /**
   * The page data, `bytes` in all (null for compressed frames, whose total is known at the end), as
   * chunks that are only valid during the call that yields them, or, with `stable`, until
   * writePages returns (views of a frozen process's frames). Returns the bytes written.
   */
  writePages(bytes: number | null, chunks: Iterable<Uint8Array>, stable?: boolean): number;
  /** Any other image of the iteration (mm, shmem, core, stats; inventory last). */
  writeImage(kind: Exclude<ImageKind, 'pagemap' | 'pages'>, value: unknown): void;
  /** Make the iteration durable and visible as a whole. */
  commit(): void;
  /** Drop everything written so far (after an error); never throws. */
  abort(): void;
}

export interface LocalXferOptions {
  imagesRoot: string;
  /** The iteration directory's name in imagesRoot. */
  name: string;
  /** Named in errors. */
  iteration: number;
  /**
   * Crash points, for tests of crash safety: called with a file name before that file is written,
   * with 'pages.img:middle' halfway through the page data, and with 'rename' before the rename.
   */
  faultPoint?: (name: string) => void;
}

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on device; free some space or choose another -D',
  EDQUOT: 'disk quota exceeded; free some space or choose another -D',
  EROFS: 'the file system is read-only; choose another -D',
  EACCES: 'permission denied; choose a directory you can write, or fix its permissions',
  EPERM: 'operation not permitted; choose a directory you can write, or fix its permissions',
  EIO: 'input/output error; check the disk',
  EFBIG: 'file too large for this file system; choose another -D',
  ENOENT: 'the images directory went away while writing; choose another -D',
  ENOTDIR: 'a part of the images path is not a directory; choose another -D',
  EMFILE: 'too many open files; close some and dump again',
  ENFILE: 'too many open files in the system; dump again later',
};
/** File-system errors that are the environment's, not tracker's: reported as IoError (exit 5). */
const IO_CODES = new Set(Object.keys(WHY));

/** The local backend, as the page server drives it: pages.img and images arriving in pieces. */
export interface LocalXfer extends PageXfer {
  /** pages.img written piece by piece; finish() returns its length and checksum. */
  openPages(): PagesWriter;
  /** An image already encoded (header and checksum included), arriving in pieces, written as it comes; fsynced with the last. */
  appendEncoded(kind: Exclude<ImageKind, 'pages'>, data: Uint8Array, first: boolean, last: boolean): void;
  /** The iteration directory once committed, and the temporary one it is written in. */
  readonly dir: string;
  readonly tmpDir: string;
}

export function openLocalXfer(o: LocalXferOptions): LocalXfer {
  const tmp = join(o.imagesRoot, `.${o.name}.tmp`);
  const dir = join(o.imagesRoot, o.name);
  /** Run an fs step; an errno becomes one IoError naming the iteration and the file, the partial iteration removed. */
  const ioError = (what: string, e: unknown): unknown => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined || !IO_CODES.has(code)) return e;
    abort();
    return new IoError(`iteration ${o.iteration}: cannot write ${what === '' ? tmp : join(tmp, what)}: ${WHY[code]}; the partial iteration was removed, earlier ones are intact`);
  };
  const io = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw ioError(what, e);
    }
  };
  const abort = () => {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // Best effort: the error that led here is the one to report.
    }
  };
  const put = (name: string, data: Uint8Array) =>
    io(name, () => {
      o.faultPoint?.(name);
      const fd = openSync(join(tmp, name), 'w');
      try {
        writeSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    });
  io('', () => {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
  });
  // pages.img through the one writer (image.ts), its errno errors reported as the iteration's.
  const openPages = (): PagesWriter => openPagesImage(join(tmp, IMAGE_FILES.pages), { io: (f) => io(IMAGE_FILES.pages, f), error: (e) => ioError(IMAGE_FILES.pages, e) as Error });
  return {
    dir,
    tmpDir: tmp,
    writePagemap(entries, compression) {
      put(IMAGE_FILES.pagemap, encodeImage('pagemap', compression === undefined ? { entries } : { entries, compression }));
    },
    writePages(bytes, chunks, stable) {
      const name = IMAGE_FILES.pages;
      io(name, () => o.faultPoint?.(name));
      const w = openPages();
      try {
        // Compressed frames: the crash point comes after the first frame.
        const half = bytes ?? 1;
        let middle = o.faultPoint !== undefined && half > 0;
        let n = 0;
        for (const c of chunks) {
          w.write(c, stable);
          n += c.length;
          if (middle && n >= half / 2) {
            middle = false;
            io(name, () => o.faultPoint!(`${name}:middle`));
          }
        }
        if (bytes !== null && n !== bytes) throw new Error(`internal: wrote ${n} page bytes, expected ${bytes}`);
        return w.finish().bytes;
      } finally {
        w.close();
      }
    },
    openPages,
    appendEncoded(kind, data, first, last) {
      const name = IMAGE_FILES[kind];
      io(name, () => {
        const fd = openSync(join(tmp, name), first ? 'wx' : 'a');
        try {
          writeSync(fd, data);
          if (last) fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      });
    },
    writeImage(kind, value) {
      put(IMAGE_FILES[kind], encodeImage(kind, value));
    },
    commit() {
      io('', () => fsyncDir(tmp));
      io('', () => o.faultPoint?.('rename'));
      io('', () => {
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
        // The rename is durable only once the directory holding it is.
        fsyncDir(o.imagesRoot);
      });
    },
    abort,
  };
}

