/**
 * Where an iteration's images go (CRIU's page-xfer seen from the dumper): open the iteration, write
 * each small image, stream pages.img, then commit (rename into place) or abort. The local backend
 * writes DIR/.N.tmp and renames it to DIR/N; the page server drives the same backend on its side,
 * so both write the same files byte for byte; the remote backend (page-xfer-remote.ts) streams
 * to it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_FILES, RawImageWriter } from './image.js';
import { dedupParents } from './dedup.js';

/** pages.img as it is streamed. */
export interface PagesSink {
  write(chunk: Uint8Array): void;
  /** Ends pages.img; returns its payload bytes. */
  finish(): number;
}

export interface ImageXfer {
  /** Start iteration directory `name` (a number: the server never takes a path). */
  open(name: string): void;
  /** One whole encoded image (inventory, pagemap, mm, shmem, core, stats). */
  writeImage(file: string, data: Buffer): void;
  openPages(): PagesSink;
  /** Make the iteration whole (rename into place); with `dedup`, then release its parents' copies. */
  commit(dedup: boolean): void;
  /** Remove whatever the open iteration wrote. */
  abort(): void;
  /** After the final dump: nothing more will come. */
  close(): void;
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The local-directory backend: DIR/.N.tmp, renamed to DIR/N. */
export class LocalImageXfer implements ImageXfer {
  private name: string | null = null;
  private pages: RawImageWriter | null = null;

  constructor(readonly root: string) {}

  get tmpDir(): string {
    return join(this.root, `.${this.name}.tmp`);
  }

  open(name: string): void {
    this.name = name;
    rmSync(this.tmpDir, { recursive: true, force: true });
    mkdirSync(this.tmpDir);
  }

  writeImage(file: string, data: Buffer): void {
    const fd = openSync(join(this.tmpDir, file), 'w');
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
  }

  /** A small image arriving in pieces (the page server): bytes appended as they come. */
  appendImage(file: string, data: Uint8Array, first: boolean): void {
    const fd = openSync(join(this.tmpDir, file), first ? 'wx' : 'a');
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
  }

  openPages(): PagesSink {
    const w = new RawImageWriter(join(this.tmpDir, IMAGE_FILES.pages), 'pages');
    this.pages = w;
    return {
      write: (c) => w.write(c),
      finish: () => {
        const n = w.finish();
        this.pages = null;
        return n;
      },
    };
  }

  /** The pages.img being written (the page server checks its length and checksum). */
  get pagesWriter(): RawImageWriter | null {
    return this.pages;
  }

  commit(dedup: boolean): void {
    const dir = join(this.root, this.name!);
    rmSync(dir, { recursive: true, force: true });
    renameSync(this.tmpDir, dir);
    this.name = null;
    if (dedup) {
      // The child must be on disk before its parents give their copies up.
      fsyncPath(this.root);
      dedupParents(dir);
    }
  }

  abort(): void {
    this.pages?.abort();
    this.pages = null;
    if (this.name !== null) rmSync(this.tmpDir, { recursive: true, force: true });
    this.name = null;
  }

  close(): void {}
}
