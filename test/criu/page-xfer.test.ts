/**
 * The local page-xfer: an iteration written under DIR/.N.tmp and renamed to DIR/N on commit,
 * nothing left on abort, crash points in order, and the files it writes readable by page-read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HEADER_BYTES, IMAGE_FILES, readHeader, readImage } from '../../src/criu/image.js';
import { openLocalXfer } from '../../src/criu/page-xfer.js';
import { PE_PARENT, PE_PRESENT, type PagemapImage } from '../../src/criu/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-xfer-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PAGE = 4096;
const entries = [
  { vaddr: 100, nr_pages: 2, flags: PE_PRESENT },
  { vaddr: 102, nr_pages: 1, flags: PE_PARENT },
];

function* chunks(): Generator<Uint8Array> {
  yield Buffer.alloc(PAGE, 7);
  yield Buffer.alloc(PAGE, 9);
}

test('commit: the iteration appears whole as DIR/N, its temporary directory gone, crash points in order', () => {
  const points: string[] = [];
  const x = openLocalXfer({ imagesRoot: tmp, name: '1', iteration: 1, faultPoint: (p) => points.push(p) });
  assert.ok(existsSync(join(tmp, '.1.tmp')));
  x.writePagemap(entries);
  assert.equal(x.writePages(2 * PAGE, chunks()), 2 * PAGE);
  x.writeImage('stats', { iteration: 1 });
  assert.ok(!existsSync(join(tmp, '1')), 'nothing visible before commit');
  x.commit();
  assert.deepEqual(readdirSync(tmp).sort(), ['1']);
  assert.deepEqual(readdirSync(join(tmp, '1')).sort(), [IMAGE_FILES.pagemap, IMAGE_FILES.pages, IMAGE_FILES.stats].sort());
  assert.deepEqual(points, ['pagemap.img', 'pages.img', 'pages.img:middle', 'stats.img', 'rename']);
  assert.deepEqual(readImage<PagemapImage>(join(tmp, '1', IMAGE_FILES.pagemap), 'pagemap'), { entries });
  const h = readHeader(join(tmp, '1', IMAGE_FILES.pages));
  assert.equal(h.size, HEADER_BYTES + 2 * PAGE);
  assert.equal(h.header!.length, BigInt(2 * PAGE));
});

test('abort leaves nothing, and a wrong page count is an error before commit', () => {
  const x = openLocalXfer({ imagesRoot: tmp, name: '2', iteration: 2 });
  x.writePagemap(entries);
  assert.throws(() => x.writePages(3 * PAGE, chunks()), /wrote 8192 page bytes, expected 12288/);
  x.abort();
  assert.ok(!existsSync(join(tmp, '.2.tmp')));
  assert.ok(!existsSync(join(tmp, '2')));
});

test('a crash point that throws mid-pages leaves the temporary directory for the caller to remove', () => {
  const x = openLocalXfer({ imagesRoot: tmp, name: '3', iteration: 3, faultPoint: (p) => {
    if (p === 'pages.img:middle') throw new Error('crash');
  } });
  x.writePagemap(entries);
  assert.throws(() => x.writePages(2 * PAGE, chunks()), /crash/);
  assert.ok(!existsSync(join(tmp, '3')), 'never renamed');
  x.abort();
  assert.ok(!existsSync(join(tmp, '.3.tmp')));
});
