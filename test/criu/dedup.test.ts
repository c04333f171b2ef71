/** --auto-dedup and `tracker dedup`: parents give back pages a later iteration dumped again. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { dedupChain, releaseEntries } from '../../src/criu/dedup.js';
import { encodeImage, IMAGE_FILES, readImage } from '../../src/criu/image.js';
import { DEFAULT_DUMP_OPTIONS, iterativeDump } from '../../src/migrate/iterative.js';
import { openChain } from '../../src/criu/page-read.js';
import { restore } from '../../src/migrate/resume.js';
import { PE_PARENT, PE_PRESENT, PE_RELEASED, type PagemapImage } from '../../src/criu/schema.js';
import { showPages } from '../../src/criu/show.js';
import { chainStats } from '../../src/criu/stats.js';
import { ImageError } from '../../src/errors.js';
import { quickDump } from '../helpers/dump.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-dedup-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '1M' } }));

const runs = (pairs: [number, number][]) => ({ start: Float64Array.from(pairs.map((p) => p[0])), end: Float64Array.from(pairs.map((p) => p[1])), length: pairs.length });

function pagemap(dir: string): PagemapImage {
  return readImage<PagemapImage>(join(dir, IMAGE_FILES.pagemap), 'pagemap');
}

function allocated(dir: string): number {
  let n = 0;
  for (const it of readdirSync(dir)) for (const f of readdirSync(join(dir, it))) n += statSync(join(dir, it, f)).blocks * 512;
  return n;
}

test('releaseEntries splits present runs around what the child dumps and merges neighbours', () => {
  const parent = [
    { vaddr: 10, nr_pages: 10, flags: PE_PRESENT },
    { vaddr: 20, nr_pages: 5, flags: PE_PARENT },
    { vaddr: 30, nr_pages: 4, flags: PE_PRESENT | PE_RELEASED },
    { vaddr: 34, nr_pages: 6, flags: PE_PRESENT },
  ];
  const r = releaseEntries(parent, runs([[12, 14], [18, 25], [34, 36], [50, 60]]));
  assert.ok(r !== null);
  assert.equal(r.released, 2 + 2 + 2);
  assert.deepEqual(r.entries, [
    { vaddr: 10, nr_pages: 2, flags: PE_PRESENT },
    { vaddr: 12, nr_pages: 2, flags: PE_PRESENT | PE_RELEASED },
    { vaddr: 14, nr_pages: 4, flags: PE_PRESENT },
    { vaddr: 18, nr_pages: 2, flags: PE_PRESENT | PE_RELEASED },
    { vaddr: 20, nr_pages: 5, flags: PE_PARENT },
    { vaddr: 30, nr_pages: 6, flags: PE_PRESENT | PE_RELEASED },
    { vaddr: 34 + 2, nr_pages: 4, flags: PE_PRESENT },
  ]);
  assert.equal(releaseEntries(parent, runs([[0, 10], [25, 30], [40, 50]])), null);
});

test('auto-dedup keeps one copy of each page, frees the blocks, restores, and equals a later `dedup`', () => {
  const opts = { workload: model, iterations: 4, interval: 20_000 };
  const plain = quickDump(tmp, 'plain', opts);
  const auto = quickDump(tmp, 'auto', { ...opts, autoDedup: true });
  const later = quickDump(tmp, 'later', opts);
  const report = dedupChain(later.dir);
  assert.ok(report.pages_released > 0);
  // The same images, byte for byte, whether deduplicated as it went or afterwards.
  for (const it of ['1', '2', '3', '4'])
    for (const f of readdirSync(join(auto.dir, it)).sort())
      assert.ok(readFileSync(join(auto.dir, it, f)).equals(readFileSync(join(later.dir, it, f))), `${it}/${f}`);
  // One copy of each page left: the live pages equal the pages of the final pagemap.
  const chain = openChain(join(auto.dir, '4')).links;
  let live = 0;
  let released = 0;
  for (const l of chain) for (const e of l.entries) if (e.flags === PE_PRESENT) live += e.nr_pages;
  else if (e.flags === (PE_PRESENT | PE_RELEASED)) released += e.nr_pages;
  const final = chain[chain.length - 1].entries.reduce((a, e) => a + e.nr_pages, 0);
  assert.equal(live, final);
  assert.equal(released, report.pages_released);
  assert.equal(live + released, plain.report.totals.pages_written);
  assert.ok(allocated(auto.dir) < allocated(plain.dir) - released * 4096 * 0.4, `${allocated(auto.dir)} vs ${allocated(plain.dir)}`);
  assert.ok(chainStats(auto.dir).totals.bytes_allocated < chainStats(plain.dir).totals.bytes_allocated);
  const r = restore({ dir: join(auto.dir, '4'), verify: true, resumeSteps: 100, onMismatch: 'report' });
  assert.equal(r.digest_ok, true);
  assert.equal(r.verify.identical, true);
  // show names a released page as such.
  const rel = chain[0].entries.find((e) => e.flags === (PE_PRESENT | PE_RELEASED))!;
  assert.equal(showPages(join(auto.dir, '1'), { vaddr: rel.vaddr * 4096, count: 1 }).pages[0].where, 'released');
  // Nothing more to release the second time.
  assert.equal(dedupChain(auto.dir).pages_released, 0);
});

test('dedup of a compressed chain restores', () => {
  const z = quickDump(tmp, 'zip', { workload: model, iterations: 3, compressRegion: 64 * 1024, autoDedup: true });
  const before = chainStats(z.dir).iterations[0].files.pages!;
  const plain = quickDump(tmp, 'zip-plain', { workload: model, iterations: 3, compressRegion: 64 * 1024 });
  assert.ok(before < chainStats(plain.dir).iterations[0].files.pages!);
  assert.equal(restore({ dir: join(z.dir, '3'), verify: false, resumeSteps: 0, onMismatch: 'report' }).digest_ok, true);
});

test('a released page that a child still needs is refused by restore; a corrupt parent is never deduplicated', () => {
  const { dir } = quickDump(tmp, 'wrong', { workload: model, iterations: 3 });
  // Release in iteration 1 a page iteration 3 leaves to its parents (and 2 leaves to 1).
  const chain = openChain(join(dir, '3')).links;
  const inParent = (k: number, vpn: number) => chain[k].entries.some((e) => e.flags === PE_PARENT && vpn >= e.vaddr && vpn < e.vaddr + e.nr_pages);
  const first = chain[0].entries.find((e) => e.flags === PE_PRESENT)!;
  let vpn = -1;
  for (let v = first.vaddr; v < first.vaddr + first.nr_pages && vpn < 0; v++) if (inParent(1, v) && inParent(2, v)) vpn = v;
  assert.ok(vpn >= 0);
  const pm = pagemap(join(dir, '1'));
  const wrong = releaseEntries(pm.entries, runs([[vpn, vpn + 1]]))!;
  writeFileSync(join(dir, '1', IMAGE_FILES.pagemap), encodeImage('pagemap', { entries: wrong.entries }));
  assert.throws(() => restore({ dir: join(dir, '3'), verify: false, resumeSteps: 0 }), (e: unknown) => e instanceof ImageError && /wrong\/1: page 0x[0-9a-f]+ was released by --auto-dedup, but .*wrong\/[23] needs it/.test(e.message));

  const bad = quickDump(tmp, 'corrupt', { workload: model, iterations: 3 });
  const pages = join(bad.dir, '1', IMAGE_FILES.pages);
  const b = readFileSync(pages);
  b[b.length - 100] ^= 0xff;
  writeFileSync(pages, b);
  const pmBefore = readFileSync(join(bad.dir, '1', IMAGE_FILES.pagemap));
  assert.throws(() => dedupChain(bad.dir), (e: unknown) => e instanceof ImageError && /checksum mismatch.*dedup left the chain as it was/.test(e.message));
  assert.ok(readFileSync(pages).equals(b));
  assert.ok(readFileSync(join(bad.dir, '1', IMAGE_FILES.pagemap)).equals(pmBefore));
  assert.deepEqual(readdirSync(join(bad.dir, '1')).filter((f) => f.startsWith('.')), []);
});

test('the quick start with --auto-dedup occupies at most 1.1x the process memory in disk blocks, and restores', () => {
  const dir = join(tmp, 'quick');
  const r = iterativeDump({ ...DEFAULT_DUMP_OPTIONS, imagesDir: dir, workload: 'hot-cold', seed: 1, kernel: '6.1', force: false, autoDedup: true });
  const memory = 128 * 1024 * 1024;
  const blocks = allocated(dir);
  console.log(`# quick start with --auto-dedup: ${r.iterations.length} iterations, ${(r.totals.bytes_written / 2 ** 20).toFixed(1)} MiB written, ${(blocks / 2 ** 20).toFixed(1)} MiB allocated (${(blocks / memory).toFixed(3)}x the 128 MiB process)`);
  assert.ok(blocks <= 1.1 * memory, `${blocks} bytes allocated`);
  assert.ok(r.totals.bytes_written > 1.3 * memory, 'the chain wrote more than it keeps');
  assert.equal(restore({ dir: join(dir, String(r.iterations.length)), verify: false, resumeSteps: 0, onMismatch: 'report' }).digest_ok, true);
});
