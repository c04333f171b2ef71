/**
 * Image files: the one header writer and reader (24 bytes: magic, version, length, crc32,
 * reserved), msgpack images round-trip, and every kind of damage is refused with one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkHeader, crc32, decodeHeader, encodeHeader, encodeImage, HEADER_BYTES, IMAGE_MAGIC, IMAGE_VERSIONS, kindOfMagic, openPagesImage, readHeader, readImage, writePagesImage } from '../../src/criu/image.js';
import { ImageError } from '../../src/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-image-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the header: magic, version, payload length, crc32 and a zero reserved field, little-endian', () => {
  const b = encodeHeader('pages', 8192, 0xdeadbeef);
  assert.equal(b.length, HEADER_BYTES);
  assert.equal(b.toString('latin1', 0, 4), 'DKRT'); // 'TRKD' as a little-endian u32
  assert.deepEqual(decodeHeader(b), { magic: IMAGE_MAGIC.pages, version: IMAGE_VERSIONS.pages, length: 8192n, crc: 0xdeadbeef, reserved: 0 });
  assert.equal(decodeHeader(encodeHeader('mm', 0, 0)).version, 2, 'mm.img is at version 2 (syscall arguments)');
  for (const k of Object.keys(IMAGE_MAGIC) as (keyof typeof IMAGE_MAGIC)[]) assert.equal(kindOfMagic(IMAGE_MAGIC[k]), k);
  assert.equal(kindOfMagic(0x12345678), null);
});

test('an image round-trips, and its header is the one encodeHeader writes', () => {
  const p = join(tmp, 'stats.img');
  const value = { iteration: 3, type: 'dump', pages_written: 12 };
  writeFileSync(p, encodeImage('stats', value));
  assert.deepEqual(readImage(p, 'stats'), value);
  const data = readFileSync(p);
  const payload = data.subarray(HEADER_BYTES);
  assert.deepEqual(data.subarray(0, HEADER_BYTES), encodeHeader('stats', payload.length, crc32(payload)));
  const { header, size } = readHeader(p);
  assert.equal(size, data.length);
  checkHeader(p, 'stats', header, size); // does not throw
});

test('damage is refused with one line each: truncated, wrong kind, version, length, reserved, checksum', () => {
  const good = encodeImage('mm', { vmas: [] });
  const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['truncated header', (b) => b.subarray(0, 10), /truncated image \(10 bytes\)/],
    ['wrong kind', (b) => (b.writeUInt32LE(IMAGE_MAGIC.core, 0), b), /not a mm image \(bad magic 0x54524b43\)/],
    ['version', (b) => (b.writeUInt32LE(99, 4), b), /image version 99, this tracker reads version 1 or 2/],
    ['extended', (b) => Buffer.concat([b, Buffer.from([0])]), /header says \d+; the image is truncated or extended/],
    ['reserved', (b) => (b.writeUInt32LE(1, 20), b), /reserved header field is not zero/],
    ['checksum', (b) => (b[b.length - 1] ^= 1, b), /checksum mismatch/],
  ];
  for (const [what, damage, re] of cases) {
    const p = join(tmp, `damaged-${what.replace(/ /g, '-')}.img`);
    writeFileSync(p, damage(Buffer.from(good)));
    assert.throws(() => readImage(p, 'mm'), (e) => e instanceof ImageError && re.test(e.message) && !e.message.includes('\n'), what);
  }
  assert.throws(() => readImage(join(tmp, 'none.img'), 'mm'), (e) => e instanceof ImageError && /missing image file/.test(e.message));
});

test('the one pages.img writer: placeholder header first, the real one with length and crc at finish', () => {
  const p = join(tmp, 'pages.img');
  const w = openPagesImage(p);
  const a = Buffer.alloc(4096, 1);
  const b = Buffer.alloc(4096, 2);
  w.write(a);
  // Before finish, the header on disk claims nothing: an interrupted file is never taken as whole.
  assert.deepEqual(decodeHeader(readFileSync(p).subarray(0, HEADER_BYTES)).length, 0n);
  // A stable chunk is checksummed at finish, the same crc as one summed at once.
  w.write(b, true);
  assert.deepEqual(w.finish(), { bytes: 8192, crc: crc32(Buffer.concat([a, b])) >>> 0 });
  w.close();
  const data = readFileSync(p);
  assert.deepEqual(decodeHeader(data), { magic: IMAGE_MAGIC.pages, version: IMAGE_VERSIONS.pages, length: 8192n, crc: crc32(Buffer.concat([a, b])) >>> 0, reserved: 0 });
  // writePagesImage writes the same bytes from the same chunks, and checks the length it is told.
  const q = join(tmp, 'pages2.img');
  writePagesImage(q, [a, b], 8192);
  assert.deepEqual(readFileSync(q), data);
  assert.throws(() => writePagesImage(join(tmp, 'pages3.img'), [a], 8192), /wrote 4096 page bytes, expected 8192/);
  truncateSync(q, 100);
  const h = readHeader(q);
  assert.throws(() => checkHeader(q, 'pages', h.header, h.size), /payload is 76 bytes, header says 8192/);
});
