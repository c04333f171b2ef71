/**
 * A page-xfer that writes nothing and counts what the local one (page-xfer.ts) would have written:
 * the same image files with the same sizes, pages.img's header and page data included, without
 * reading a byte of the process's memory when the page data is raw (the dumper's chunks are
 * produced lazily and never asked for). For `tracker plan`, whose rows need only the counts.
 */
import { encodeImage, HEADER_BYTES, IMAGE_FILES, type ImageKind } from './image.js';
import type { PageCompression } from './page-compress.js';
import type { PageXfer } from './page-xfer.js';
import type { PagePipe } from './page-pipe.js';
import type { MmEntry, PagemapEntry } from './schema.js';

export interface CountedIteration {
  /** Bytes of each image file the local page-xfer would have written, by file name. */
  files: Record<string, number>;
  /** The pagemap entries, when asked to keep them (heat maps). */
  pagemap: readonly PagemapEntry[] | null;
  /** The mm image (final dumps), when pagemaps are kept. */
  mm: MmEntry | null;
  committed: boolean;
}

export interface CountingXfer extends PageXfer {
  readonly counted: CountedIteration;
}

/** Bytes msgpack (msgpackr, as image.ts packs) takes for a non-negative integer. */
function uintBytes(v: number): number {
  return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < 4294967296 ? 5 : 9;
}

/**
 * pagemap.img's size for these runs, without packing them: the header, then msgpack of
 * { entries: [{ vaddr, nr_pages, flags }, ...] }: a one-key map (1 byte), "entries" (8), the array
 * header, and per entry a three-key map (1), its keys (6 + 9 + 6) and its three integers.
 */
export function pagemapImageBytes(n: number, start: ArrayLike<number>, len: ArrayLike<number>, flags: ArrayLike<number>): number {
  let bytes = HEADER_BYTES + 9 + (n < 16 ? 1 : n < 65536 ? 3 : 5);
  for (let i = 0; i < n; i++) bytes += 22 + uintBytes(start[i]) + uintBytes(len[i]) + uintBytes(flags[i]);
  return bytes;
}

/** `keep`: hold on to the pagemap entries and the mm image (what a heat map reads from images). */
export function openCountingXfer(keep = false): CountingXfer {
  const counted: CountedIteration = { files: {}, pagemap: null, mm: null, committed: false };
  return {
    counted,
    writePagemap(entries: readonly PagemapEntry[], compression?: PageCompression) {
      counted.files[IMAGE_FILES.pagemap] = encodeImage('pagemap', compression === undefined ? { entries } : { entries, compression }).length;
      if (keep) counted.pagemap = entries;
    },
    writePagemapPipe(pipe: PagePipe) {
      const r = pipe.runs();
      counted.files[IMAGE_FILES.pagemap] = pagemapImageBytes(r.n, r.start, r.len, r.flags);
      if (keep) counted.pagemap = pipe.entries();
    },
    writePages(bytes: number | null, chunks: Iterable<Uint8Array>) {
      let n = bytes;
      if (n === null) {
        // Compressed frames: their size is only known by making them.
        n = 0;
        for (const c of chunks) n += c.length;
      }
      counted.files[IMAGE_FILES.pages] = HEADER_BYTES + n;
      return n;
    },
    writeImage(kind: Exclude<ImageKind, 'pagemap' | 'pages'>, value: unknown) {
      counted.files[IMAGE_FILES[kind]] = encodeImage(kind, value).length;
      if (keep && kind === 'mm') counted.mm = value as MmEntry;
    },
    commit() {
      counted.committed = true;
    },
    abort() {
      counted.files = {};
    },
  };
}
