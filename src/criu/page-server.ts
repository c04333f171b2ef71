/**
 * `tracker page-server` (CRIU's page-server.c): receives iterations over TCP (or TLS) and writes
 * them into its images directory through the local page-xfer backend, so the files are those a
 * local dump writes, byte for byte, under the same DIR/.N.tmp renamed to DIR/N. One dump at a
 * time. A connection that drops, stalls or sends anything malformed loses only the iteration in
 * flight (its temporary directory is removed); earlier iterations stay, and the server goes on.
 * Names come from the server: an iteration number and an image kind, never a path.
 */
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { EXIT_IO, EXIT_USAGE, IoError, TrackerError, UsageError } from '../errors.js';
import { dedupParents } from './dedup.js';
import { readInventoryFile } from './image-decode.js';
import { IMAGE_FILES, readImage } from './image.js';
import { openLocalXfer, type LocalXfer, type PagesWriter } from './page-xfer.js';
import { prepareImagesRoot, type ImagesRoot } from './images-dir.js';
import {
  errPayload,
  frame,
  FrameParser,
  HELLO_AUTO_DEDUP,
  HELLO_FORCE,
  MAX_IMAGE_BYTES,
  MAX_ITERATION,
  PROTO_MAGIC,
  PROTO_VERSION,
  ProtocolError,
  T,
  u32,
  WIRE_KINDS,
} from './page-server-proto.js';

export interface PageServerOptions {
  imagesDir: string;
  address: string;
  port: number;
  keepRunning: boolean;
  /** Release parents' copies as each iteration lands (also asked for by a client's --auto-dedup). */
  autoDedup: boolean;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** A connection silent this long loses its iteration (ms). */
  idleTimeout?: number;
  /** A connection must say HELLO within this long (ms); until it does, it does not hold the server. */
  helloTimeout?: number;
  /** Crash points, for tests: called with the iteration and 'pages' when its page data begins. */
  faultPoint?: (iteration: number, point: string) => void;
  /** Told of each event, for the CLI's log lines. */
  log?: (line: string) => void;
  /** Told of each iteration written (the CLI's --json lines). */
  onCommit?: (c: { iteration: number; type: string; dir: string }) => void;
}

const IDLE_MS = 60_000;
const HELLO_MS = 10_000;

export interface PageServer {
  address: string;
  port: number;
  /** Resolves when the server has stopped (after the final dump, unless keepRunning, or close()). */
  done: Promise<void>;
  close(): void;
}

const EMPTY = Buffer.alloc(0);
/**
 * Page data handed to the thread pool and not yet written: receiving pauses above HIGH_WATER,
 * resumes at LOW_WATER. A few MiB keep the pool busy; more only costs first touches of receive
 * slabs and cache (32 MiB measured ~15% slower over loopback than 2-8 MiB).
 */
const HIGH_WATER = 4 << 20;
const LOW_WATER = 2 << 20;
/** Page data goes to pages.img in writes of up to this much (and at the end of each DATA frame). */
const WRITE_BYTES = 1 << 20;
/** Receive buffers (RecvSlabs): reads go into slabs of this size, each read given at least MIN_READ of room. */
const SLAB_BYTES = 1 << 20;
const MIN_READ = 256 << 10;

interface Slab {
  buf: Buffer;
  /** Bytes read into it so far. */
  at: number;
  /** Page-data pieces in it not yet written, plus one while reads go into it. */
  refs: number;
}

/**
 * Where a plain TCP connection's reads go (net's onread), instead of a new 64 KiB Buffer per read
 * as Node's 'data' events give: received into fresh memory, every 4 KiB paid a page fault on this
 * VM (the freed buffers go back to the kernel) and the collector had 512 MiB of garbage per
 * 512 MiB dumped, most of the receiver's time. Page data is written to pages.img from where it was
 * read; a slab takes reads again once every piece of it has been written.
 */
class RecvSlabs {
  private readonly free: Slab[] = [];
  private readonly owner = new Map<ArrayBufferLike, Slab>();
  private cur = this.take();

  /** The room for the next read. */
  next(): Buffer {
    if (this.cur.buf.length - this.cur.at < MIN_READ) {
      const full = this.cur;
      this.cur = this.take();
      this.drop(full);
    }
    return this.cur.buf.subarray(this.cur.at);
  }

  /** The `n` bytes the last read brought. */
  got(n: number): Buffer {
    const b = this.cur.buf.subarray(this.cur.at, this.cur.at + n);
    this.cur.at += n;
    return b;
  }

  /** A piece of page data kept until written (anything else is copied out: see Session.receive). */
  hold(p: Buffer): void {
    const s = this.owner.get(p.buffer);
    if (s !== undefined) s.refs++;
  }

  /** Pieces written (or dropped). */
  release(ps: readonly Buffer[]): void {
    for (const p of ps) {
      const s = this.owner.get(p.buffer);
      if (s !== undefined) this.drop(s);
    }
  }

  private take(): Slab {
    let s = this.free.pop();
    if (s === undefined) {
      s = { buf: Buffer.allocUnsafeSlow(SLAB_BYTES), at: 0, refs: 0 };
      this.owner.set(s.buf.buffer, s);
    }
    s.at = 0;
    s.refs = 1;
    return s;
  }

  private drop(s: Slab): void {
    if (--s.refs === 0) this.free.push(s);
  }
}

/**
 * net's onread on an accepted socket: Node takes the option only for the sockets it connects, so
 * the three fields its Socket constructor sets for it are set here (found by their symbols' names),
 * before the socket, paused on connect, first reads. False when this Node has none of them.
 */
export function readInto(sock: net.Socket, next: () => Buffer, onRead: (n: number) => void): boolean {
  const sym = (name: string) => Object.getOwnPropertySymbols(sock).find((k) => k.description === name);
  const [buffer, callback, gen] = [sym('kBuffer'), sym('kBufferCb'), sym('kBufferGen')];
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  if (buffer === undefined || callback === undefined || gen === undefined || typeof handle?.useUserBuffer !== 'function') return false;
  const fields = sock as unknown as Record<symbol, unknown>;
  const first = next();
  fields[gen] = next;
  fields[buffer] = first;
  fields[callback] = onRead;
  handle.useUserBuffer(first);
  return true;
}

/** Whatever happens in one connection. */
class Session {
  private parser = new FrameParser();
  private hello = false;
  private flags = 0;
  private iteration = 0;
  private lastCommitted = 0;
  private xfer: LocalXfer | null = null;
  private image: { kind: (typeof WIRE_KINDS)[number]; bytes: number; first: boolean } | null = null;
  private pages: PagesWriter | null = null;
  /** Socket data not parsed yet: it waits while a frame waits for pages.img's writes. */
  private backlog: Buffer[] = [];
  /** The frame that waits for pages.img's writes to land (PAGES_END), to be handled then. */
  private stalled: (() => unknown) | null = null;
  private paused = false;
  /** Page data received and not yet handed to pages.img's writer. */
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  private received = new Set<string>();
  finished = false;
  private closed = false;
  /** The images directory, locked from the first iteration to the end of the dump. */
  private root: ImagesRoot | null = null;
  /** Where a plain TCP connection reads into; null for TLS (its 'data' events). */
  private slabs: RecvSlabs | null = null;

  constructor(
    private readonly sock: net.Socket,
    private readonly o: PageServerOptions,
    private readonly onEnd: (finalDump: boolean) => void,
    /** Asked at HELLO: false while another dump holds the server. */
    private readonly claim: () => boolean,
  ) {
    sock.setTimeout(o.helloTimeout ?? HELLO_MS);
    const slabs = sock instanceof tls.TLSSocket ? null : new RecvSlabs();
    if (slabs !== null && readInto(sock, () => slabs.next(), (n) => this.receive(slabs.got(n)))) this.slabs = slabs;
    else sock.on('data', (d: Buffer) => this.receive(d));
    // A plain socket is paused on connect, until it knows where to read.
    sock.resume();
    sock.on('timeout', () => this.fail(new ProtocolError('connection idle too long')));
    sock.on('error', () => this.end('connection error'));
    sock.on('close', () => this.end('connection closed'));
  }

  /** Bytes from the socket. */
  private receive(d: Buffer): void {
    if (this.closed) return;
    this.backlog.push(d);
    this.parse();
    if (this.slabs !== null && !this.closed) {
      // What is kept past this read, but page data on its way to pages.img, is copied: the slab
      // takes later reads. It is a frame's first bytes, or the few frames after PAGES_END.
      this.parser.detach();
      this.backlog = this.backlog.map((b) => Buffer.from(b));
    }
  }

  /**
   * Parse what has come, up to a frame that must wait for pages.img's writes. Page data is not
   * reassembled: each piece goes to pages.img as it arrives, written on libuv's thread pool while
   * this thread goes on receiving, with the crc the parser computed for the frame (one checksum).
   */
  private parse(): void {
    try {
      let d: Buffer | undefined = EMPTY;
      while (d !== undefined && this.stalled === null && !this.closed) {
        this.parser.push(
          d,
          (t, p) => this.handle(t, p),
          (piece) => this.data(piece),
          (crc, len) => {
            if (this.image !== null || this.pages === null) return;
            this.writeGathered();
            this.pages.addCrc(crc, len);
          },
        );
        d = this.backlog.shift();
      }
    } catch (e) {
      this.fail(e);
    }
    this.flow();
  }

  /** Receive no faster than pages.img is written. */
  private flow(): void {
    if (this.closed) return;
    const inflight = this.pages?.inflight ?? 0;
    if (!this.paused && (this.stalled !== null || inflight > HIGH_WATER)) {
      this.sock.pause();
      this.paused = true;
    } else if (this.paused && this.stalled === null && inflight <= LOW_WATER) {
      this.paused = false;
      this.sock.resume();
    }
  }

  /** Hand the gathered page data to pages.img's writer. */
  private writeGathered(): void {
    const w = this.pages;
    if (w === null || this.gathered.length === 0) return;
    const pieces = this.gathered;
    this.gathered = [];
    this.gatheredBytes = 0;
    w.writeAsync(pieces, (e) => {
      this.slabs?.release(pieces);
      this.written(w, e);
    });
    if (!this.paused && w.inflight > HIGH_WATER) this.flow();
  }

  /** A write to pages.img `w` has landed. */
  private written(w: PagesWriter, e: Error | null): void {
    if (this.closed || w !== this.pages) return;
    if (e !== null) return this.fail(e);
    if (this.stalled !== null && w.inflight === 0) {
      const go = this.stalled;
      this.stalled = null;
      try {
        go();
      } catch (err) {
        return this.fail(err);
      }
      this.parse();
    } else this.flow();
  }

  private log(s: string): void {
    this.o.log?.(s);
  }

  /** Drop the iteration in flight and the connection, telling the client why when it can hear. */
  fail(e: unknown): void {
    if (this.closed) return;
    const code = e instanceof TrackerError ? e.exitCode : e instanceof ProtocolError ? EXIT_USAGE : EXIT_IO;
    const msg = (e as Error)?.message ?? String(e);
    this.log(`iteration ${this.iteration || '-'} dropped: ${msg}`);
    this.abortIteration();
    try {
      this.sock.end(frame(T.ERR, errPayload(code, msg)));
    } catch {
      // The peer may be gone already.
    }
    // Read on (discarding) until the client has read the ERR and gone, so that its writes in
    // flight do not turn into EPIPE before it sees why; a client that stays is cut off.
    this.sock.resume();
    setTimeout(() => this.sock.destroy(), LINGER_MS).unref();
    this.closed = true;
    this.onEnd(false);
  }

  private end(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.log(this.xfer !== null ? `iteration ${this.iteration} dropped: ${why}` : `${why} between iterations`);
    this.abortIteration();
    this.onEnd(this.finished);
  }

  private abortIteration(): void {
    this.root?.release();
    this.root = null;
    this.pages?.close?.();
    this.pages = null;
    this.slabs?.release(this.gathered);
    this.gathered = [];
    this.gatheredBytes = 0;
    this.image = null;
    this.xfer?.abort();
    this.xfer = null;
  }

  /** A DATA payload, or a piece of one (page data goes to pages.img as it arrives). */
  private data(p: Buffer): void {
    if (!this.hello) throw new ProtocolError('expected HELLO first');
    if (this.image !== null) {
      this.image.bytes += p.length;
      if (this.image.bytes > MAX_IMAGE_BYTES) throw new ProtocolError(`${this.image.kind} image larger than ${MAX_IMAGE_BYTES} bytes`);
      this.xfer!.appendEncoded(this.image.kind, p, this.image.first, false);
      this.image.first = false;
    } else if (this.pages !== null) {
      // Gathered into one writev per frame (or per WRITE_BYTES), not one write per socket read.
      this.gathered.push(p);
      this.slabs?.hold(p);
      this.gatheredBytes += p.length;
      if (this.gatheredBytes >= WRITE_BYTES) this.writeGathered();
    } else throw new ProtocolError('DATA out of place');
  }

  /** One whole frame; false when it must wait for pages.img's writes (it is handled once they land). */
  private handle(type: number, p: Buffer): boolean {
    if (!this.hello && type !== T.HELLO) throw new ProtocolError('expected HELLO first');
    switch (type) {
      case T.HELLO: {
        if (this.hello || p.length !== 12 || p.readUInt32LE(0) !== PROTO_MAGIC) throw new ProtocolError('bad HELLO');
        if (p.readUInt32LE(4) !== PROTO_VERSION) throw new ProtocolError(`protocol version ${p.readUInt32LE(4)}, this server speaks ${PROTO_VERSION}`);
        this.flags = p.readUInt32LE(8);
        // Only a client that has said HELLO holds the server: a silent connection blocks nobody.
        if (!this.claim()) {
          this.closed = true;
          this.sock.end(frame(T.ERR, errPayload(EXIT_IO, 'the page server is busy with another dump; try again when it is done')));
          this.sock.resume();
          this.onEnd(false);
          return true;
        }
        this.hello = true;
        this.sock.setTimeout(this.o.idleTimeout ?? IDLE_MS);
        this.sock.write(frame(T.OK, u32(0)));
        return true;
      }
      case T.OPEN: {
        if (this.xfer !== null || this.finished || p.length !== 4) throw new ProtocolError('OPEN out of place');
        const n = p.readUInt32LE(0);
        if (n < 1 || n > MAX_ITERATION) throw new ProtocolError(`bad iteration number ${n}`);
        if (n !== this.lastCommitted + 1) throw new ProtocolError(`iteration ${n} does not follow ${this.lastCommitted}`);
        // The same rules as a local dump: the lock, and --force removing only tracker's images.
        if (n === 1) this.root = prepareImagesRoot(this.o.imagesDir, (this.flags & HELLO_FORCE) !== 0);
        else if (existsSync(join(this.o.imagesDir, String(n)))) throw new UsageError(`${this.o.imagesDir}/${n} already exists`);
        this.iteration = n;
        this.received.clear();
        this.xfer = openLocalXfer({ imagesRoot: this.o.imagesDir, name: String(n), iteration: n });
        return true;
      }
      case T.IMAGE_BEGIN: {
        if (this.xfer === null || this.image !== null || this.pages !== null || p.length !== 1 || p[0] >= WIRE_KINDS.length) throw new ProtocolError('IMAGE_BEGIN out of place');
        const kind = WIRE_KINDS[p[0]];
        if (this.received.has(kind)) throw new ProtocolError(`${kind} image sent twice`);
        this.image = { kind, bytes: 0, first: true };
        return true;
      }
      case T.DATA: {
        this.data(p);
        return true;
      }
      case T.IMAGE_END: {
        if (this.image === null || p.length !== 0) throw new ProtocolError('IMAGE_END out of place');
        const { kind, first } = this.image;
        this.xfer!.appendEncoded(kind, new Uint8Array(0), first, true);
        // Only a whole, checksummed image of the kind announced is kept.
        const path = join(this.xfer!.tmpDir, IMAGE_FILES[kind]);
        readImage(path, kind);
        this.received.add(kind);
        this.image = null;
        return true;
      }
      case T.PAGES_BEGIN: {
        if (this.xfer === null || this.image !== null || this.pages !== null || this.received.has('pages') || p.length !== 0) throw new ProtocolError('PAGES_BEGIN out of place');
        this.pages = this.xfer.openPages();
        this.o.faultPoint?.(this.iteration, 'pages');
        return true;
      }
      case T.PAGES_END: {
        if (this.pages === null || p.length !== 12) throw new ProtocolError('PAGES_END out of place');
        if (this.pages.inflight > 0) {
          const q = Buffer.from(p); // p may be in a receive slab
          this.stalled = () => this.handle(type, q);
          return false;
        }
        const r = this.pages.finish();
        this.pages = null;
        if (BigInt(r.bytes) !== p.readBigUInt64LE(0) || r.crc !== p.readUInt32LE(8)) throw new ProtocolError('page data length or checksum differs from what the client sent');
        this.received.add('pages');
        return true;
      }
      case T.COMMIT: {
        if (this.xfer === null || this.image !== null || this.pages !== null || p.length !== 0) throw new ProtocolError('COMMIT out of place');
        const inv = readInventoryFile(join(this.xfer.tmpDir, IMAGE_FILES.inventory));
        const need = ['inventory', 'pagemap', 'pages', 'stats', ...(inv.type === 'dump' ? ['mm', 'shmem', 'core'] : [])];
        const missing = need.filter((k) => !this.received.has(k));
        if (missing.length > 0) throw new ProtocolError(`iteration ${this.iteration} lacks ${missing.join(', ')}`);
        const parent = this.iteration === 1 ? null : `../${this.iteration - 1}`;
        if (inv.iteration !== this.iteration || inv.parent !== parent) throw new ProtocolError(`inventory names iteration ${inv.iteration} with parent ${inv.parent}; expected ${this.iteration} with ${parent}`);
        this.xfer.commit();
        const dir = this.xfer.dir;
        this.xfer = null;
        this.lastCommitted = this.iteration;
        if (this.iteration > 1 && ((this.flags & HELLO_AUTO_DEDUP) !== 0 || this.o.autoDedup)) dedupParents(dir);
        this.log(`iteration ${this.iteration} (${inv.type}) written to ${dir}`);
        this.o.onCommit?.({ iteration: this.iteration, type: inv.type, dir });
        if (inv.type === 'dump') this.finished = true;
        this.sock.write(frame(T.OK, u32(this.iteration)));
        return true;
      }
      case T.BYE: {
        if (this.xfer !== null) throw new ProtocolError('BYE in the middle of an iteration');
        this.sock.end();
        return true;
      }
      default:
        throw new ProtocolError(`message type ${type} is not for a server`);
    }
  }
}


/** How long a dropped connection is read (and discarded) for its client to hear the ERR. */
const LINGER_MS = 2_000;

export function startPageServer(o: PageServerOptions): Promise<PageServer> {
  let active: Session | null = null;
  const sessions = new Set<Session>();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const onConnection = (sock: net.Socket) => {
    const s = new Session(
      sock,
      o,
      (finalDump) => {
        sessions.delete(s);
        if (active === s) active = null;
        if (finalDump && !o.keepRunning) stop();
      },
      () => (active === null ? ((active = s), true) : false),
    );
    sessions.add(s);
  };
  // Before -D is made: a certificate or key that TLS refuses fails here.
  const server = o.tls !== undefined ? tls.createServer({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: o.tls.ca !== undefined, rejectUnauthorized: o.tls.ca !== undefined }, onConnection) : net.createServer({ pauseOnConnect: true }, onConnection);
  // A -D the server made is removed again when it ends holding nothing (rmdir never removes content).
  let created = false;
  if (existsSync(o.imagesDir)) {
    if (!statSync(o.imagesDir).isDirectory()) throw new UsageError(`${o.imagesDir} exists and is not a directory; choose another -D`);
  } else {
    mkdirSync(o.imagesDir, { recursive: true });
    created = true;
  }
  const removeIfEmpty = () => {
    if (!created) return;
    try {
      rmdirSync(o.imagesDir);
    } catch {
      // it holds images (or anything else): kept
    }
  };
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => {
      removeIfEmpty();
      resolveDone();
    });
    for (const s of [...sessions]) s.fail(new ProtocolError('the page server is stopping'));
  };
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      removeIfEmpty();
      reject(new IoError(`cannot listen on ${o.address}:${o.port}: ${e.code ?? e.message}`));
    });
    server.listen(o.port, o.address, () => {
      const a = server.address() as net.AddressInfo;
      resolve({ address: a.address, port: a.port, done, close: stop });
    });
  });
}

