/** --compress: LZ4 regions in pages.img, read back by restore, show and stats. */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IMAGE_FILES, writePagesImage } from '../../src/criu/image.js';
import { checkRegionSize, CompressedCursor, compressedSize, RegionCompressor } from '../../src/criu/page-compress.js';
import { compare } from '../../src/criu/compare.js';
import { restore } from '../../src/migrate/resume.js';
import { showIteration, showPages } from '../../src/criu/show.js';
import { chainStats } from '../../src/criu/stats.js';
import { ImageError, TrackerError } from '../../src/errors.js';
import { quickDump } from '../helpers/dump.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-zip-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '512K' } }));

/** 40 pages: zeros, a pattern, random bytes (incompressible), more zeros. */
function samplePages(): Buffer {
  const b = Buffer.alloc(40 * 4096);
  for (let i = 8 * 4096; i < 16 * 4096; i++) b[i] = i % 7;
  randomFillSync(b.subarray(16 * 4096, 30 * 4096));
  return b;
}

/** Read [offset, offset + len) of the raw data of a frames file, front to back. */
function cursorOn(path: string, raw: number, region: number): CompressedCursor {
  const b = readFileSync(path);
  return new CompressedCursor(path, b.length - 24, b.readUInt32LE(16), raw, region);
}

function readAll(c: CompressedCursor, offset: number, len: number): Buffer {
  const parts: Buffer[] = [];
  c.read(offset, len, (d) => parts.push(Buffer.from(d)));
  return Buffer.concat(parts);
}

function writeFrames(path: string, raw: Buffer, region: number, chunk = 5000): number {
  const chunks: Buffer[] = [];
  for (let o = 0; o < raw.length; o += chunk) chunks.push(raw.subarray(o, o + chunk));
  return writePagesImage(path, new RegionCompressor(region).frames(chunks), null);
}

test('regions round-trip, incompressible ones are stored raw, reads may straddle regions', () => {
  const raw = samplePages();
  const path = join(tmp, 'frames.img');
  const region = 16 * 1024;
  const stored = writeFrames(path, raw, region);
  assert.ok(stored < raw.length, 'zero and pattern pages compress');
  // The random pages (16..29) cover regions 4..7 whole: stored raw, 4 bytes of frame header each.
  assert.ok(stored > 14 * 4096, 'random pages cannot be compressed');
  let c = cursorOn(path, raw.length, region);
  for (let p = 0; p < 40; p += 3) assert.ok(readAll(c, p * 4096, 4096).equals(raw.subarray(p * 4096, (p + 1) * 4096)), `page ${p}`);
  c.finish();
  c.close();
  c = cursorOn(path, raw.length, region);
  assert.ok(readAll(c, 3 * 4096 + 100, 3 * 16 * 1024).equals(raw.subarray(3 * 4096 + 100, 3 * 4096 + 100 + 3 * 16 * 1024)));
  c.finish();
  c.close();
  assert.equal(compressedSize([raw], region), stored);
});

test('damaged frames are refused with one ImageError, never a crash or a huge allocation', () => {
  const raw = samplePages();
  const region = 64 * 1024;
  const path = join(tmp, 'bad.img');
  writeFrames(path, raw, region);
  const good = readFileSync(path);
  const payload = good.subarray(24);
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    ['frame length beyond its region', (b) => b.writeUInt32LE(0xfffffff0, 0), /larger than its/],
    ['lz4 raw-length prefix', (b) => b.writeUInt32LE(1 << 30, 4), /raw bytes, the pagemap/],
    ['lz4 body', (b) => b.fill(0xff, 8, 40), /does not decode|decodes to/],
  ];
  assert.ok(payload.readUInt32LE(0) < region, 'first region compressed');
  for (const [what, damage, msg] of cases) {
    const b = Buffer.from(payload);
    damage(b);
    const p = join(tmp, 'damaged.img');
    writePagesImage(p, [b], b.length);
    assert.throws(
      () => {
        const d = cursorOn(p, raw.length, region);
        try {
          for (let o = 0; o < raw.length; o += 4096) d.read(o, 4096, () => undefined);
          d.finish();
        } finally {
          d.close();
        }
      },
      (e: unknown) => e instanceof ImageError && msg.test(e.message),
      what,
    );
  }
  // A pagemap naming more pages than the frames hold.
  assert.throws(() => {
    const d = cursorOn(path, raw.length + 4096 * 20, region);
    d.finish();
  }, /regions end at|truncated/);
  // A damaged byte anywhere is caught by the checksum even in a region never decoded.
  const b = Buffer.from(readFileSync(path));
  b[b.length - 3] ^= 0xff;
  const p2 = join(tmp, 'flip.img');
  writeFileSync(p2, b);
  assert.throws(() => {
    const d = cursorOn(p2, raw.length, region);
    d.read(0, 4096, null);
    d.finish();
  }, /checksum mismatch|larger than|does not decode|raw bytes/);
});

test('--compress-region is a multiple of 4K between 4K and 1M', () => {
  assert.equal(checkRegionSize(256 * 1024), 256 * 1024);
  for (const bad of [0, 1000, 4096 * 3 + 1, 2 * 1024 * 1024]) assert.throws(() => checkRegionSize(bad), TrackerError);
});

test('a compressed chain restores with its digest, holds the same pages, and show/stats report the ratio', () => {
  const plain = quickDump(tmp, 'plain', { workload: model });
  const zipped = quickDump(tmp, 'zipped', { workload: model, compressRegion: 64 * 1024 });
  const r = restore({ dir: join(zipped.dir, '3'), verify: true, resumeSteps: 100, onMismatch: 'report' });
  assert.equal(r.digest_ok, true);
  assert.equal(r.verify.identical, true);
  const st = chainStats(zipped.dir);
  assert.equal(st.totals.bytes_written, chainStats(plain.dir).totals.bytes_written);
  assert.ok(st.totals.bytes_stored < st.totals.bytes_written / 2, `compressed ${st.totals.bytes_stored} of ${st.totals.bytes_written}`);
  assert.ok(st.totals.compression_ratio > 2);
  assert.equal(zipped.report.iterations[0].bytes_stored, st.iterations[0].bytes_stored);
  assert.equal(st.iterations[0].bytes_stored + 24, st.iterations[0].files.pages);
  // The same page contents, page by page.
  const heap = showIteration(join(plain.dir, '1')).images.find((i) => i.kind === 'pagemap')!.contents.entries as { vaddr: string; nr_pages: number }[];
  const spec = { vaddr: Number(heap[0].vaddr), count: Math.min(64, heap[0].nr_pages) };
  const a = showPages(join(plain.dir, '1'), spec).pages.map((p) => p.crc32);
  const b = showPages(join(zipped.dir, '1'), spec).pages.map((p) => p.crc32);
  assert.deepEqual(b, a);
  assert.ok(a.every((c) => c !== null));
  const shown = showIteration(join(zipped.dir, '2')).images;
  const pages = shown.find((i) => i.kind === 'pages')!.contents;
  assert.equal(pages.compression, 'lz4');
  assert.equal(pages.region, 64 * 1024);
  assert.ok((pages.ratio as number) > 1);
  assert.deepEqual(shown.find((i) => i.kind === 'pagemap')!.contents.compression, { codec: 'lz4', region: 64 * 1024 });
  assert.ok(readFileSync(join(zipped.dir, '3', IMAGE_FILES.pages)).length < readFileSync(join(plain.dir, '3', IMAGE_FILES.pages)).length);
});

test('compare counts compressed bytes as what crosses the link', () => {
  const plain = quickDump(tmp, 'cmp-plain', { workload: model });
  const zipped = quickDump(tmp, 'cmp-zip', { workload: model, compressRegion: 64 * 1024 });
  const r = compare(plain.dir, zipped.dir, { maxIncrease: 0 });
  assert.equal(r.totals.bytes_written.diff, 0);
  assert.ok(r.totals.bytes_stored.head! < r.totals.bytes_stored.base! / 2);
  assert.deepEqual(r.violations, []);
  // From a saved report too: its iterations carry bytes_stored.
  const report = join(tmp, 'zip-report.json');
  writeFileSync(report, JSON.stringify(zipped.report));
  const back = compare(report, plain.dir, { maxIncrease: 10 });
  assert.equal(back.violations.length, 1);
  assert.match(back.violations[0], /^total bytes over the link \(compressed\) grew [\d.]+% .* over --max-increase 10%$/);
});
