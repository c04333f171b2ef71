/**
 * A synchronous, streaming view of a gzip file. Workload steps are synchronous and Node's zlib
 * streams are not, so a worker thread inflates the file and passes 1 MiB at a time through a
 * SharedArrayBuffer; the reader blocks (Atomics.wait) until the next piece is there. Memory stays
 * bounded whatever the size of the trace.
 */
import { Worker } from 'node:worker_threads';

export const GZ_STATE = 0;
export const GZ_LEN = 1;
/** States of the handshake: the reader sets REQUEST, the worker answers DATA, EOF or ERROR. */
export const GZ_IDLE = 0;
export const GZ_REQUEST = 1;
export const GZ_DATA = 2;
export const GZ_EOF = 3;
export const GZ_ERROR = 4;

const PIECE_BYTES = 1024 * 1024;

export class GunzipError extends Error {}

export class GunzipSource {
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly worker: Worker;
  /** Bytes of the current piece not yet handed out. */
  private piece = new Uint8Array(0);
  private at = 0;
  private ended = false;

  constructor(readonly file: string) {
    const control = new SharedArrayBuffer(8);
    const data = new SharedArrayBuffer(PIECE_BYTES);
    this.ctl = new Int32Array(control);
    this.data = new Uint8Array(data);
    this.worker = new Worker(new URL('./gunzip-worker.js', import.meta.url), { workerData: { file, control, data } });
    // The reader decides when the process ends, not the worker.
    this.worker.unref();
  }

  /** Copy up to `length` inflated bytes into buf at `offset`; 0 at the end of the stream. */
  read(buf: Uint8Array, offset: number, length: number): number {
    let n = 0;
    while (n < length) {
      if (this.at >= this.piece.length) {
        if (this.ended || !this.fetch()) break;
      }
      const k = Math.min(length - n, this.piece.length - this.at);
      buf.set(this.piece.subarray(this.at, this.at + k), offset + n);
      this.at += k;
      n += k;
    }
    return n;
  }

  /** Discard `bytes` bytes (to resume at an offset). */
  skip(bytes: number): void {
    const scratch = new Uint8Array(Math.min(bytes, PIECE_BYTES));
    while (bytes > 0) {
      const n = this.read(scratch, 0, Math.min(bytes, scratch.length));
      if (n === 0) break;
      bytes -= n;
    }
  }

  close(): void {
    void this.worker.terminate();
  }

  private fetch(): boolean {
    Atomics.store(this.ctl, GZ_STATE, GZ_REQUEST);
    Atomics.notify(this.ctl, GZ_STATE);
    Atomics.wait(this.ctl, GZ_STATE, GZ_REQUEST);
    const state = Atomics.load(this.ctl, GZ_STATE);
    const len = this.ctl[GZ_LEN];
    const bytes = this.data.slice(0, len);
    Atomics.store(this.ctl, GZ_STATE, GZ_IDLE);
    if (state === GZ_ERROR) {
      this.ended = true;
      this.close();
      throw new GunzipError(Buffer.from(bytes).toString());
    }
    if (state === GZ_EOF) {
      this.ended = true;
      this.close();
      return false;
    }
    this.piece = bytes;
    this.at = 0;
    return true;
  }
}
