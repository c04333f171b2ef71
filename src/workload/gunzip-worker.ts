/**
 * Worker side of GunzipSource: inflates a gzip file as a stream and hands the bytes over, one
 * piece at a time, through shared memory when the reader asks for more.
 */
import { createReadStream } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import { GZ_DATA, GZ_EOF, GZ_ERROR, GZ_LEN, GZ_REQUEST, GZ_STATE } from './gunzip-source.js';

const { file, control, data } = workerData as { file: string; control: SharedArrayBuffer; data: SharedArrayBuffer };
const ctl = new Int32Array(control);
const out = new Uint8Array(data);

/** Wait until the reader asks, then hand over `bytes` with `state`. */
function handOver(state: number, bytes: Uint8Array): void {
  // Sleep until the reader has taken the last piece and asks again (DATA -> IDLE -> REQUEST).
  for (;;) {
    const now = Atomics.load(ctl, GZ_STATE);
    if (now === GZ_REQUEST) break;
    Atomics.wait(ctl, GZ_STATE, now);
  }
  out.set(bytes);
  ctl[GZ_LEN] = bytes.length;
  Atomics.store(ctl, GZ_STATE, state);
  Atomics.notify(ctl, GZ_STATE);
}

async function main(): Promise<void> {
  try {
    for await (const chunk of createReadStream(file).pipe(createGunzip())) {
      const c = chunk as Buffer;
      for (let i = 0; i < c.length; i += out.length) handOver(GZ_DATA, c.subarray(i, i + out.length));
    }
    handOver(GZ_EOF, new Uint8Array(0));
  } catch (e) {
    const msg = Buffer.from(String((e as Error).message ?? e)).subarray(0, out.length);
    handOver(GZ_ERROR, msg);
  }
}

void main();
