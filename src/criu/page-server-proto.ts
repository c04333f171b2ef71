/**
 * The page server's wire protocol. Every message is a frame:
 *
 *   0  type     u8
 *   1  length   u32   payload bytes, at most MAX_PAYLOAD (checked before anything is allocated)
 *   5  payload
 *   .  crc32    u32   of type, length and payload
 *
 * Client to server: HELLO (magic, version, flags), then per iteration OPEN (its number: the server
 * never takes a path), IMAGE_BEGIN (an image kind) DATA... IMAGE_END for each small image (sent
 * encoded, header and checksum included), PAGES_BEGIN DATA... PAGES_END (length and crc32 of the
 * page data), COMMIT; BYE at the end. Server to client: OK (after HELLO and each COMMIT, with the
 * iteration committed) or ERR (an exit-code class and a one-line message), then it closes.
 */
import { crc32, crc32Combine, IMAGE_FILES, type ImageKind } from './image.js';

export const PROTO_MAGIC = 0x5452_4b53; // 'TRKS'
export const PROTO_VERSION = 1;
/** DATA frames carry at most 1 MiB; other payloads are a few bytes. */
export const MAX_DATA = 1024 * 1024;
export const MAX_PAYLOAD = MAX_DATA + 64;
/** A small image (anything but pages.img) larger than this is refused. */
export const MAX_IMAGE_BYTES = 1024 ** 3;
export const MAX_ITERATION = 1_000_000;
export const MAX_ERROR_BYTES = 1024;

export const T = {
  HELLO: 1,
  OPEN: 2,
  IMAGE_BEGIN: 3,
  DATA: 4,
  IMAGE_END: 5,
  PAGES_BEGIN: 6,
  PAGES_END: 7,
  COMMIT: 8,
  BYE: 9,
  OK: 16,
  ERR: 17,
} as const;
const TYPES = new Set<number>(Object.values(T));

export const HELLO_FORCE = 1;
export const HELLO_AUTO_DEDUP = 2;

/** Image kinds by wire number (pages.img has its own messages). */
export const WIRE_KINDS = (Object.keys(IMAGE_FILES) as ImageKind[]).filter((k) => k !== 'pages') as Exclude<ImageKind, 'pages'>[];

export class ProtocolError extends Error {}

export function frame(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length);
  b[0] = type;
  b.writeUInt32LE(payload.length, 1);
  b.set(payload, 5);
  b.writeUInt32LE(crc32(b.subarray(0, 5 + payload.length)) >>> 0, 5 + payload.length);
  return b;
}

/**
 * The header and trailer of a frame whose payload is sent separately (no copy of page data). With
 * `payloadCrc` (crc32 of the payload alone, already computed for pages.img), the payload is not
 * read again.
 */
export function frameParts(type: number, payload: Uint8Array, payloadCrc?: number): [Buffer, Buffer] {
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeUInt32LE(payload.length, 1);
  const tail = Buffer.allocUnsafe(4);
  tail.writeUInt32LE(payloadCrc === undefined ? crc32(payload, crc32(head)) >>> 0 : crc32Combine(crc32(head), payloadCrc, payload.length), 0);
  return [head, tail];
}

export function u32(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, 4 * i));
  return b;
}

export function errPayload(exitCode: number, message: string): Buffer {
  const text = Buffer.from(message.replace(/\n/g, ' ')).subarray(0, MAX_ERROR_BYTES);
  return Buffer.concat([Buffer.from([exitCode & 0xff]), text]);
}

/**
 * Frames out of a byte stream. Bytes are kept only until a frame is whole: at most one frame
 * (MAX_PAYLOAD) plus what one read brought. With `onPiece`, DATA payloads are not reassembled:
 * each piece is handed over as it arrives, and the frame's checksum is verified at its end (a
 * mismatch throws, and the receiver drops what the pieces went into); `onDataEnd` is then told
 * the payload's own crc32 and length, so the receiver need not checksum the pieces again.
 * `onFrame` returning false stops the parser after that frame: the rest stays buffered until the
 * next push (an empty one resumes).
 */
export class FrameParser {
  private parts: Buffer[] = [];
  private have = 0;
  /** Payload bytes still to come of the DATA frame being streamed, its length, and crcs of its head and payload. */
  private streaming = -1;
  private streamLen = 0;
  private headCrc = 0;
  private crc = 0;

  push(data: Buffer, onFrame: (type: number, payload: Buffer) => unknown, onPiece?: (piece: Buffer) => void, onDataEnd?: (payloadCrc: number, length: number) => void): void {
    if (data.length > 0) {
      this.parts.push(data);
      this.have += data.length;
    }
    for (;;) {
      if (this.streaming > 0) {
        if (this.have === 0) return;
        const piece = this.take(Math.min(this.streaming, this.parts[0].length));
        this.crc = crc32(piece, this.crc);
        this.streaming -= piece.length;
        onPiece!(piece);
        continue;
      }
      if (this.streaming === 0) {
        if (this.have < 4) return;
        const sum = this.take(4).readUInt32LE(0);
        this.streaming = -1;
        if (sum !== crc32Combine(this.headCrc, this.crc, this.streamLen)) throw new ProtocolError('message checksum mismatch');
        onDataEnd?.(this.crc >>> 0, this.streamLen);
        continue;
      }
      if (this.have < 5) return;
      const head = this.peek(5);
      const type = head[0];
      const len = head.readUInt32LE(1);
      if (!TYPES.has(type)) throw new ProtocolError(`unknown message type ${type}`);
      if (len > MAX_PAYLOAD) throw new ProtocolError(`message of ${len} bytes, more than ${MAX_PAYLOAD}`);
      if (type === T.DATA && onPiece !== undefined) {
        this.headCrc = crc32(this.take(5));
        this.crc = 0;
        this.streaming = len;
        this.streamLen = len;
        continue;
      }
      if (this.have < 9 + len) return;
      const whole = this.take(9 + len);
      if ((crc32(whole.subarray(0, 5 + len)) >>> 0) !== whole.readUInt32LE(5 + len)) throw new ProtocolError('message checksum mismatch');
      if (onFrame(type, whole.subarray(5, 5 + len)) === false) return;
    }
  }

  /**
   * Copy the bytes kept for an incomplete frame (a few bytes, normally), so that the buffer they
   * were read into can take the next read.
   */
  detach(): void {
    if (this.have > 0) this.parts = [Buffer.concat(this.parts)];
  }

  private peek(n: number): Buffer {
    if (this.parts[0].length < n) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.parts[0].length < n) this.parts = [Buffer.concat(this.parts)];
    const first = this.parts[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.parts.shift();
    else this.parts[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}
