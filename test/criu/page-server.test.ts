/**
 * The page server on loopback: an in-process server, dumps run in-process too (test/helpers/cli.ts:
 * the client streams from the dump's worker thread, so this thread serves), as child processes
 * where a process is killed. Byte-identical chains, faults on either side, garbage from clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openChain } from '../../src/criu/page-read.js';
import { readInto, startPageServer, type PageServer } from '../../src/criu/page-server.js';
import { frame, FrameParser, frameParts, HELLO_FORCE, MAX_DATA, PROTO_MAGIC, PROTO_VERSION, T, u32 } from '../../src/criu/page-server-proto.js';
import { crc32, crc32Combine } from '../../src/criu/image.js';
import { restore } from '../../src/migrate/resume.js';
import { ROOT } from '../helpers/root.js';
import { trackerAsync, type CliResult } from '../helpers/cli.js';
import { startTracker, type Finished } from '../helpers/spawn.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-ps-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '1M' } }));
const DUMP = ['dump', '--iterative', '--workload', model, '--policy', 'fixed', '--iterations', '3', '--interval', '20000', '--seed', '7'];

/** Run tracker in-process: the dump streams from its worker thread, the server lives in this one. */
function tracker(args: string[]): Promise<CliResult> {
  return trackerAsync(args);
}

/** Run tracker as a child process, for a dumper that is to be killed, with a time limit. */
function trackerProcess(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return startTracker(args, { env }).done;
}

/** Closed at the end whatever happened, so a failed test cannot leave the runner waiting. */
const servers: PageServer[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function server(dir: string, extra: Partial<Parameters<typeof startPageServer>[0]> = {}): Promise<PageServer> {
  const s = await startPageServer({ imagesDir: dir, address: '127.0.0.1', port: 0, keepRunning: true, autoDedup: false, idleTimeout: 5_000, ...extra });
  servers.push(s);
  return s;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const it of readdirSync(dir).sort()) {
    if (it.startsWith('.')) out.push(it);
    else for (const f of readdirSync(join(dir, it)).sort()) out.push(`${it}/${f}`);
  }
  return out;
}

function sameFiles(a: string, b: string): void {
  assert.deepEqual(files(a), files(b));
  for (const f of files(a)) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
}

/** A raw client: sends `bytes`, collects the server's frames until it closes (or 3 s). */
function rawClient(port: number, chunks: Buffer[]): Promise<{ types: number[]; errors: string[] }> {
  return new Promise((resolve) => {
    const types: number[] = [];
    const errors: string[] = [];
    const parser = new FrameParser();
    const sock = net.connect({ host: '127.0.0.1', port }, () => {
      for (const c of chunks) sock.write(c);
    });
    const timer = setTimeout(() => sock.destroy(), 3_000);
    sock.on('data', (d) =>
      parser.push(d, (t, p) => {
        types.push(t);
        if (t === T.ERR) errors.push(p.subarray(1).toString());
      }),
    );
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ types, errors });
    });
  });
}

const flip = (b: Buffer) => {
  b[b.length - 1] ^= 1;
  return b;
};
const hello = (flags = 0) => frame(T.HELLO, u32(PROTO_MAGIC, PROTO_VERSION, flags));

test('a dump through the page server writes the same files as a local dump, and they restore', async () => {
  const local = join(tmp, 'local');
  const l = await tracker([...DUMP, '-D', local]);
  assert.equal(l.status, 0, l.stderr);
  for (const compress of [[], ['--compress', '--compress-region', '64K']]) {
    const dir = join(tmp, `served${compress.length}`);
    const s = await server(dir, { keepRunning: false });
    const r = await tracker([...DUMP, ...compress, '--page-server', '--port', String(s.port), '--json']);
    assert.equal(r.status, 0, r.stderr);
    await s.done; // exits after the final dump
    assert.equal(JSON.parse(r.stdout).iterations.length, 3);
    if (compress.length === 0) sameFiles(local, dir);
    const rr = restore({ dir: join(dir, '3'), verify: true, resumeSteps: 100, onMismatch: 'report' });
    assert.equal(rr.digest_ok, true);
    assert.equal(rr.verify.identical, true);
  }
});

test('auto-dedup on the page server gives the same chain as a local --auto-dedup dump', async () => {
  const local = join(tmp, 'local-dedup');
  assert.equal((await tracker([...DUMP, '-D', local, '--auto-dedup'])).status, 0);
  const dir = join(tmp, 'served-dedup');
  const s = await server(dir, { autoDedup: true });
  const r = await tracker([...DUMP, '--page-server', '--port', String(s.port)]);
  assert.equal(r.status, 0, r.stderr);
  s.close();
  await s.done;
  sameFiles(local, dir);
});

test('a dumper killed mid-iteration leaves that iteration removed, the earlier ones whole, and the server serving', async () => {
  const dir = join(tmp, 'killed-client');
  let dropped!: () => void;
  const gone = new Promise<void>((r) => (dropped = r));
  // The kill can land before the server has heard iteration 2 begin: then there is nothing to drop.
  const s = await server(dir, { log: (l) => /^iteration 2 dropped|between iterations$/.test(l) && dropped() });
  const dead = await trackerProcess([...DUMP, '--page-server', '--port', String(s.port)], { TRACKER_FAULT: '2:pages.img:middle' });
  assert.equal(dead.signal, 'SIGKILL');
  // The server notices the connection is gone (on a loaded machine, some time after the kill)
  // and removes what iteration 2 had written.
  await gone;
  assert.deepEqual(readdirSync(dir).sort(), ['1']);
  assert.equal(openChain(join(dir, '1')).links.length, 1);
  // Without --force the next dump is refused (the directory holds a dump), with it it succeeds.
  const refused = await tracker([...DUMP, '--page-server', '--port', String(s.port)]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /^tracker: page server 127\.0\.0\.1:\d+: .*not empty; pass --force.*\n$/);
  const again = await tracker([...DUMP, '--page-server', '--port', String(s.port), '--force']);
  assert.equal(again.status, 0, again.stderr);
  s.close();
  await s.done;
  assert.equal(restore({ dir: join(dir, '3'), verify: false, resumeSteps: 0, onMismatch: 'report' }).digest_ok, true);
});

test('a page server killed mid-iteration: the client says so in one line with exit 5; a new server serves the next dump', async () => {
  const dir = join(tmp, 'killed-server');
  let port = 0;
  const { child: srv } = startTracker(['page-server', '-D', dir, '--port', '0'], { env: { TRACKER_FAULT: 'server:2' } });
  const listening = await new Promise<string>((resolve) => srv.stdout.once('data', (d) => resolve(String(d))));
  port = Number(/^listening on 127\.0\.0\.1:(\d+)\n$/.exec(listening)![1]);
  const gone = new Promise((resolve) => srv.on('close', (_c, sig) => resolve(sig)));
  const r = await tracker([...DUMP, '--page-server', '--port', String(port)]);
  assert.equal(await gone, 'SIGKILL');
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /^tracker: lost the page server at 127\.0\.0\.1:\d+ \(.+\); the iterations it confirmed are complete there\n$/);
  // As after a local crash: iteration 1 whole, 2 only as its temporary directory.
  assert.ok(!existsSync(join(dir, '2')));
  assert.equal(openChain(join(dir, '1')).links.length, 1);
  const s = await server(dir, { keepRunning: false });
  const again = await tracker([...DUMP, '--page-server', '--port', String(s.port), '--force']);
  assert.equal(again.status, 0, again.stderr);
  await s.done;
  assert.deepEqual(readdirSync(dir).sort(), ['1', '2', '3']);
  assert.equal(restore({ dir: join(dir, '3'), verify: false, resumeSteps: 0, onMismatch: 'report' }).digest_ok, true);
});

test('garbage, absurd lengths and misplaced messages: the server drops them, writes nothing, and serves the next dump', async () => {
  const parent = join(tmp, 'garbage');
  mkdirSync(parent);
  const dir = join(parent, 'images');
  const s = await server(dir);
  const absurd = Buffer.alloc(9);
  absurd[0] = T.DATA;
  absurd.writeUInt32LE(0xffffffff, 1);
  const badCrc = frame(T.OPEN, u32(1));
  badCrc[badCrc.length - 1] ^= 1;
  const kind = (k: number) => frame(T.IMAGE_BEGIN, Buffer.from([k]));
  const cases: [string, Buffer[], RegExp][] = [
    ['random bytes', [randomBytes(4096)], /unknown message type|more than|checksum|HELLO/],
    ['an absurd length', [hello(), absurd], /more than/],
    ['a bad checksum', [hello(), badCrc], /checksum/],
    ['no HELLO', [frame(T.OPEN, u32(1))], /HELLO first/],
    ['a wrong magic', [frame(T.HELLO, u32(1, 2, 3))], /bad HELLO/],
    ['an iteration out of order', [hello(), frame(T.OPEN, u32(7))], /does not follow/],
    ['an unknown image kind', [hello(), frame(T.OPEN, u32(1)), kind(200)], /IMAGE_BEGIN out of place/],
    ['a damaged image', [hello(), frame(T.OPEN, u32(1)), kind(0), frame(T.DATA, randomBytes(100)), frame(T.IMAGE_END)], /not a|truncated|checksum/],
    ['page data then garbage', [hello(), frame(T.OPEN, u32(1)), frame(T.PAGES_BEGIN), frame(T.DATA, randomBytes(8192)), randomBytes(64)], /unknown message type|more than|checksum/],
    ['page data with a bad checksum', [hello(), frame(T.OPEN, u32(1)), frame(T.PAGES_BEGIN), flip(frame(T.DATA, randomBytes(100_000)))], /checksum/],
    ['a commit without images', [hello(HELLO_FORCE), frame(T.OPEN, u32(1)), frame(T.COMMIT)], /inventory|missing/],
    ['a server message', [hello(), frame(T.OK, u32(0))], /not for a server/],
  ];
  for (const [what, chunks, msg] of cases) {
    const r = await rawClient(s.port, chunks);
    assert.equal(r.errors.length, 1, `${what}: ${JSON.stringify(r)}`);
    assert.match(r.errors[0], msg, what);
    assert.deepEqual(readdirSync(dir), [], `${what}: nothing left in DIR`);
  }
  // A connection that stalls mid-iteration is dropped after the idle timeout.
  const stalled = await rawClient(s.port, [hello(), frame(T.OPEN, u32(1)), frame(T.PAGES_BEGIN)]);
  assert.match(stalled.errors[0] ?? 'closed', /idle|closed/);
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(readdirSync(parent), ['images'], 'nothing written beside DIR');
  const ok = await tracker([...DUMP, '--page-server', '--port', String(s.port)]);
  assert.equal(ok.status, 0, ok.stderr);
  s.close();
  await s.done;
  assert.deepEqual(readdirSync(dir).sort(), ['1', '2', '3']);
});

test('page data many times the receive slabs, in frames from 1 byte to 1 MiB, lands in pages.img byte for byte', async () => {
  // The server reads into 1 MiB slabs reused once their page data is written: a slab reused too
  // early would show here as wrong bytes (the checksums are of what was received, not written).
  const dir = join(tmp, 'slabs');
  const s = await server(dir);
  const data = randomBytes(24 << 20);
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  const sock = net.connect({ host: '127.0.0.1', port: s.port });
  sock.on('error', () => undefined);
  await new Promise((r) => sock.once('connect', r));
  sock.write(Buffer.concat([hello(), frame(T.OPEN, u32(1)), frame(T.PAGES_BEGIN)]));
  for (let at = 0; at < data.length; ) {
    const size = Math.min(data.length - at, next() % 8 === 0 ? 1 + (next() % 64) : 1 + (next() % MAX_DATA));
    const piece = data.subarray(at, at + size);
    const [head, tail] = frameParts(T.DATA, piece);
    sock.write(head);
    sock.write(piece);
    sock.write(tail);
    at += size;
  }
  const end = Buffer.alloc(12);
  end.writeBigUInt64LE(BigInt(data.length), 0);
  end.writeUInt32LE(crc32(data) >>> 0, 8);
  sock.write(frame(T.PAGES_END, end));
  // PAGES_END writes the header last: wait for it, then compare.
  const path = join(dir, '.1.tmp', 'pages.img');
  const until = Date.now() + 20_000;
  let img = Buffer.alloc(0);
  while (Date.now() < until) {
    img = existsSync(path) ? readFileSync(path) : img;
    if (img.length === 24 + data.length && img.readUInt32LE(16) === crc32(data) >>> 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  sock.destroy();
  assert.equal(img.length, 24 + data.length);
  assert.ok(img.subarray(24).equals(data), 'pages.img holds the bytes sent');
});

test('one dump at a time; no server is one line with exit 5', async () => {
  const s = await server(join(tmp, 'busy'));
  const first = net.connect({ host: '127.0.0.1', port: s.port });
  await new Promise((r) => first.once('connect', r));
  first.write(hello());
  await new Promise((r) => setTimeout(r, 100));
  const second = await rawClient(s.port, [hello()]);
  assert.match(second.errors[0], /busy/);
  first.destroy();
  s.close();
  await s.done;
  const r = await tracker([...DUMP, '--page-server', '--port', String(s.port)]);
  assert.equal(r.status, 5);
  assert.match(r.stderr, /^tracker: cannot reach the page server at 127\.0\.0\.1:\d+ \(connection refused\); nothing was sent: .*\n$/);
});

test('--tls: the dump goes over TLS to a server whose certificate the client checks', async () => {
  const tlsDir = join(ROOT, 'fixtures', 'tls');
  const dir = join(tmp, 'tls');
  const s = await server(dir, { tls: { cert: readFileSync(join(tlsDir, 'server.pem')), key: readFileSync(join(tlsDir, 'server.key')) } });
  const untrusted = await tracker([...DUMP, '--page-server', '--port', String(s.port), '--tls']);
  assert.equal(untrusted.status, 5);
  assert.match(untrusted.stderr, /^tracker: cannot reach the page server at 127\.0\.0\.1:\d+ \(.*(certificate|CERT).*\); .*\n$/);
  const plain = await tracker([...DUMP, '--page-server', '--port', String(s.port)]);
  assert.equal(plain.status, 5, 'a plain TCP client cannot talk to a TLS server');
  const r = await tracker([...DUMP, '--page-server', '--port', String(s.port), '--tls', '--tls-cacert', join(tlsDir, 'ca.pem'), '--force']);
  assert.equal(r.status, 0, r.stderr);
  s.close();
  await s.done;
  assert.equal(restore({ dir: join(dir, '3'), verify: false, resumeSteps: 0, onMismatch: 'report' }).digest_ok, true);
});

test('the frame parser gives the same frames and data however the stream is cut', () => {
  const frames = [hello(), frame(T.OPEN, u32(3)), frame(T.DATA, randomBytes(300_000)), frame(T.DATA, Buffer.alloc(0)), frame(T.COMMIT), frame(T.DATA, randomBytes(5))];
  const stream = Buffer.concat(frames);
  const whole: string[] = [];
  new FrameParser().push(stream, (t, p) => whole.push(`${t}:${p.toString('hex')}`));
  assert.equal(whole.length, frames.length);
  for (const cut of [1, 7, 4096, 65_536]) {
    const got: string[] = [];
    let data: Buffer[] = [];
    const parser = new FrameParser();
    for (let at = 0; at < stream.length; at += cut)
      parser.push(
        stream.subarray(at, at + cut),
        (t, p) => {
          if (data.length > 0 || t === -1) got.push(`${T.DATA}:${Buffer.concat(data).toString('hex')}`);
          data = [];
          got.push(`${t}:${p.toString('hex')}`);
        },
        (piece) => data.push(Buffer.from(piece)),
      );
    // Streamed DATA frames end where the next frame begins; empty ones hand over nothing.
    if (data.length > 0) got.push(`${T.DATA}:${Buffer.concat(data).toString('hex')}`);
    assert.deepEqual(got, whole.filter((f) => f !== `${T.DATA}:`), `cut ${cut}`);
  }
});

test('crc32Combine gives the crc32 of two pieces joined, so each byte is checksummed once per side', () => {
  for (const [a, b] of [[0, 0], [0, 9], [9, 0], [1, 1], [4096, 1 << 20], [777, 123_457]]) {
    const x = randomBytes(a);
    const y = randomBytes(b);
    assert.equal(crc32Combine(crc32(x), crc32(y), b), crc32(Buffer.concat([x, y])) >>> 0, `${a} + ${b}`);
  }
  // A frame's trailer made from its payload's crc is the trailer made over the whole frame.
  const payload = randomBytes(70_000);
  const [head, tail] = frameParts(T.DATA, payload, crc32(payload));
  assert.ok(Buffer.concat([head, payload, tail]).equals(frame(T.DATA, payload)));
});

test("this Node lets the page server read an accepted socket through onread (Node internals it relies on, else it falls back to 'data' events at half the speed)", async () => {
  const got: Buffer[] = [];
  const buf = Buffer.alloc(64);
  let used: boolean | undefined;
  const socks: net.Socket[] = [];
  const srv = net.createServer({ pauseOnConnect: true }, (sock) => {
    socks.push(sock);
    used = readInto(sock, () => buf, (n) => got.push(Buffer.from(buf.subarray(0, n))));
    if (!used) sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', () => undefined);
    sock.resume();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1', () => c.end('page data'));
  c.on('error', () => undefined);
  try {
    for (let i = 0; i < 100 && Buffer.concat(got).toString() !== 'page data'; i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    c.destroy();
    for (const s of socks) s.destroy();
    srv.close();
  }
  assert.equal(used, true, 'onread could not be set on an accepted socket');
  assert.equal(Buffer.concat(got).toString(), 'page data');
});
