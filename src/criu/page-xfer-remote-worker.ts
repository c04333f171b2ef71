/**
 * The page server client's network side (see page-xfer-remote.ts): forwards the bytes the dumper
 * puts in the shared ring to the socket, with the socket's backpressure, and reports the server's
 * answers (OK, ERR) and a lost connection through the shared control words.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { workerData } from 'node:worker_threads';
import { FrameParser, T } from './page-server-proto.js';
import { C, S, type LinkData } from './page-xfer-remote.js';

const d = workerData as LinkData;
const ctl = new BigInt64Array(d.control);
const ring = new Uint8Array(d.ring);
const msg = new Uint8Array(d.message);
const RING = ring.length;
/** Atomics.waitAsync (Node 16+; not in this TypeScript lib). */
const waitAsync = (Atomics as unknown as { waitAsync: (a: BigInt64Array, i: number, v: bigint, t: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;

function setState(state: number, text?: string, code = 5): void {
  if (Atomics.load(ctl, C.STATE) === BigInt(S.ERROR)) return;
  if (text !== undefined) {
    const b = Buffer.from(text).subarray(0, msg.length - 8);
    msg.fill(0);
    msg.set(b, 0);
    Atomics.store(ctl, C.MSG_LEN, BigInt(b.length));
    Atomics.store(ctl, C.ERR_CODE, BigInt(code));
  }
  Atomics.store(ctl, C.STATE, BigInt(state));
  for (const i of [C.STATE, C.R, C.ACK]) Atomics.notify(ctl, i);
}

const sock: net.Socket = d.tls
  ? tls.connect({ host: d.host, port: d.port, ca: d.tls.ca, cert: d.tls.cert, key: d.tls.key, servername: net.isIP(d.host) ? undefined : d.host })
  : net.connect({ host: d.host, port: d.port });
sock.setNoDelay(true);
let closing = false;
sock.once(d.tls ? 'secureConnect' : 'connect', () => {
  setState(S.CONNECTED);
  void pump();
});
// An error is told at 'close', which always follows it: an ERR frame the server sent before it
// went (why it refused) is read first and wins over the EPIPE of a write that crossed it.
let failure: string | undefined;
sock.on('error', (e: NodeJS.ErrnoException) => {
  failure ??= e.code === 'ECONNREFUSED' ? 'connection refused' : e.code !== undefined && /^E[A-Z]+$/.test(e.code) ? e.code : e.message;
});
sock.on('close', () => {
  if (failure !== undefined) setState(S.ERROR, failure);
  else setState(closing ? S.CLOSED : S.ERROR, closing ? undefined : 'connection lost');
});
const parser = new FrameParser();
sock.on('data', (b: Buffer) => {
  try {
    parser.push(b, (type, p) => {
      if (type === T.OK) {
        Atomics.add(ctl, C.ACK, 1n);
        Atomics.notify(ctl, C.ACK);
      } else if (type === T.ERR) setState(S.ERROR, p.subarray(1).toString(), p[0] ?? 5);
      else setState(S.ERROR, `unexpected message ${type} from the server`);
    });
  } catch (e) {
    setState(S.ERROR, `garbled answer from the server (${(e as Error).message})`);
    sock.destroy();
  }
});

/**
 * Hand ring bytes to the socket without copying them: R (what the dumper may overwrite) advances
 * only once the socket has written them; at most a quarter of the ring is in flight per write.
 */
async function pump(): Promise<void> {
  let sent = Atomics.load(ctl, C.R);
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const written = (n: number) => {
    inFlight -= n;
    Atomics.add(ctl, C.R, BigInt(n));
    Atomics.notify(ctl, C.R);
    wake?.();
  };
  for (;;) {
    const state = Number(Atomics.load(ctl, C.STATE));
    if (state === S.ERROR) return;
    const w = Atomics.load(ctl, C.W);
    if (w === sent) {
      if (Number(Atomics.load(ctl, C.CLOSE)) === 1) {
        closing = true;
        sock.end();
        return;
      }
      const res = waitAsync(ctl, C.W, w, 1000);
      if (res.async) await res.value;
      continue;
    }
    const at = Number(sent % BigInt(RING));
    const n = Math.min(Number(w - sent), RING - at, RING / 4);
    inFlight += n;
    sent += BigInt(n);
    const ok = sock.write(ring.subarray(at, at + n), () => written(n));
    if (!ok || inFlight >= RING / 2)
      await new Promise<void>((resolve) => {
        const go = () => {
          sock.off('drain', go);
          sock.off('close', go);
          wake = null;
          resolve();
        };
        sock.on('drain', go);
        sock.on('close', go);
        wake = () => {
          if (inFlight < RING / 2) go();
        };
      });
  }
}
