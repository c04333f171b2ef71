/**
 * The inspection commands on small real dumps: `tracker show` decodes every image kind (by file,
 * whatever its name, and by directory), `tracker stats` agrees with the dump's own report, and
 * `tracker compare` catches a workload whose hot set doubled.
 */
import { toJson } from '../../src/cli/output.js';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IMAGE_VERSIONS, HEADER_BYTES, IMAGE_FILES, type ImageKind } from '../../src/criu/image.js';
import type { CompareResult } from '../../src/criu/compare.js';
import { showImageFile, type MemsView, type PagesView, type RssView, type ShownImage, type ShownIteration } from '../../src/criu/show.js';
import type { ChainStats } from '../../src/criu/stats.js';
import { dumper, scratchDir } from '../helpers/dump.js';
import { trackerAsync, trackerInProcess } from '../helpers/cli.js';

const tmp = scratchDir('tracker-inspect-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** hot-cold on a 8 MiB heap (2048 pages): what the views show does not depend on its size. */
const SMALL = join(tmp, 'small.json');
writeFileSync(SMALL, JSON.stringify({ model: 'hot-cold', params: { heap: '8M', hotSet: '512K' } }));
const HEAP_PAGES = 2048;

const dump = dumper(tmp, { workload: SMALL, interval: 5000, memoryBytes: 64 << 20 });

const tracker = trackerInProcess;

function json<T>(...args: string[]): T {
  const r = tracker(...args);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A failure is one line on stderr (commander adds a hint to flag errors), never a stack trace. */
function assertOneLineError(r: ReturnType<typeof tracker>, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, /^tracker: [^\n]+\n(\(run with --help for usage\)\n)?$/);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
}

const KINDS = Object.keys(IMAGE_FILES) as ImageKind[];
const MAGICS: Record<ImageKind, string> = { inventory: 'TRKI', mm: 'TRKM', pagemap: 'TRKP', pages: 'TRKD', shmem: 'TRKS', core: 'TRKC', stats: 'TRKT' };

const base = dump('base');
const again = dump('again');
const final = join(base.dir, '3');

test('show decodes every image kind from its file, whatever the file is called, in text and JSON', () => {
  for (const kind of KINDS) {
    const file = join(final, IMAGE_FILES[kind]);
    const renamed = join(tmp, `renamed-${kind}.bin`);
    copyFileSync(file, renamed);
    const img = json<ShownImage>('show', renamed, '--json');
    assert.equal(img.kind, kind, renamed);
    assert.equal(img.header.magic, MAGICS[kind]);
    assert.equal(img.header.version, IMAGE_VERSIONS[kind]);
    assert.equal(img.header.payload_bytes, statSync(file).size - HEADER_BYTES);
    assert.match(img.header.crc32, /^0x[0-9a-f]+$/);
    assert.deepEqual(JSON.parse(toJson({ ...showImageFile(file), file: renamed })), img, 'the name does not matter; the JSON is the library view in snake_case');
    const text = tracker('show', file);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${kind} image: magic ${MAGICS[kind]}, version ${IMAGE_VERSIONS[kind]}`));
  }
});

test('decoded images say what each holds: VMAs and pagemap flags by name, page data only summarised', () => {
  const stats = base.report.iterations[2];
  const mm = json<ShownImage>('show', join(final, 'mm.img'), '--json').contents as { vmas: { start: string; end: string; prot: string; kind: string; flags: string; pages: number }[] };
  assert.equal(mm.vmas.length, 1);
  assert.match(mm.vmas[0].start, /^0x[0-9a-f]+000$/);
  assert.equal(mm.vmas[0].prot, 'rw-p');
  const args = json<ShownImage>('show', join(final, 'mm.img'), '--json').contents as { vmas: { map_flags: string; madv: string[] }[] };
  assert.deepEqual([args.vmas[0].map_flags, args.vmas[0].madv], ['MAP_PRIVATE|MAP_ANONYMOUS', []], 'the syscall arguments mm.img holds');
  assert.equal(mm.vmas[0].kind, 'anon');
  assert.match(mm.vmas[0].flags, /^rd wr\b/);
  assert.equal(mm.vmas[0].pages, HEAP_PAGES);

  const pm = json<ShownImage>('show', join(final, 'pagemap.img'), '--json').contents as { entries: { vaddr: string; flags: string }[]; pages_present: number; pages_in_parent: number };
  assert.deepEqual([...new Set(pm.entries.map((e) => e.flags))].sort(), ['in_parent', 'present']);
  assert.equal(pm.pages_present, stats.pages_written);
  assert.equal(pm.pages_in_parent, stats.pages_skipped_parent);

  const pages = json<ShownImage>('show', join(final, 'pages.img'), '--json');
  assert.deepEqual(pages.contents, { pages: stats.pages_written, bytes: stats.bytes_written, crc32: pages.header.crc32 });
  const pagesText = tracker('show', join(final, 'pages.img')).stdout;
  assert.ok(pagesText.split('\n').length < 5, 'page data is summarised, not dumped');

  const st = json<ShownImage>('show', join(final, 'stats.img'), '--json');
  // stats.img holds CRIU's stats; the report adds the virtual clock's figures.
  const { start_s, duration_s, frozen_s, running_s, dirty_pages_after, expected_downtime_s, throttle_pct, note, false_positives, ...criuStats } = stats;
  void [start_s, duration_s, frozen_s, running_s, dirty_pages_after, expected_downtime_s, throttle_pct, note, false_positives];
  assert.deepEqual(st.contents, criuStats);
  const inv = json<ShownImage>('show', join(final, 'inventory.img'), '--json').contents as { type: string; parent: string; iteration: number };
  assert.deepEqual([inv.type, inv.parent, inv.iteration], ['dump', '../2', 3]);
  const core = json<ShownImage>('show', join(final, 'core.img'), '--json').contents as { state: { steps: number } };
  assert.equal(core.state.steps, base.report.memory_digest_steps);
  const shmem = json<ShownImage>('show', join(final, 'shmem.img'), '--json').contents as { objects: unknown[]; data: { pages: number } };
  assert.deepEqual([shmem.objects.length, shmem.data.pages], [0, 0]);
});

test('show on an iteration directory decodes all its images; a pre-dump has no mm, shmem or core', () => {
  const whole = json<ShownIteration>('show', final, '--json');
  assert.deepEqual(whole.images.map((i) => i.kind), KINDS);
  assert.deepEqual(whole.absent, []);
  const pre = json<ShownIteration>('show', join(base.dir, '1'), '--json');
  assert.deepEqual(pre.absent, ['mm', 'shmem', 'core']);
  const text = tracker('show', final);
  assert.equal(text.status, 0);
  for (const kind of KINDS) assert.match(text.stdout, new RegExp(`${IMAGE_FILES[kind].replace('.', '\\.')}  ${kind} image`));
  assert.match(text.stdout, /vaddr +nr_pages +flags\n/);
  const root = tracker('show', base.dir);
  assertOneLineError(root, 2, /is an images root \(iterations 1, 2, 3\)/);
});

test('--pages shows present pages as a hexdump of pages.img and traces in-parent pages to their iteration', () => {
  const pm = json<ShownImage>('show', join(final, 'pagemap.img'), '--json').contents as { entries: { vaddr: string; nr_pages: number; flags: string }[] };
  const present = pm.entries[0];
  assert.equal(present.flags, 'present');
  const v = json<PagesView>('show', final, '--pages', `${present.vaddr},2`, '--json');
  assert.equal(v.pages.length, 2);
  assert.equal(v.pages[0].where, 'present');
  assert.equal(v.pages[0].iteration, 3);
  // The first present page is the first 4096 bytes of pages.img's payload.
  const data = readFileSync(join(final, 'pages.img')).subarray(HEADER_BYTES, HEADER_BYTES + 4096);
  const firstRow = v.pages[0].hexdump[0];
  const addr = BigInt(present.vaddr).toString(16).padStart(12, '0');
  const bytes = Array.from(data.subarray(0, 16), (b) => b.toString(16).padStart(2, '0'));
  assert.ok(firstRow.startsWith(`${addr}  ${bytes.slice(0, 8).join(' ')}  ${bytes.slice(8).join(' ')}  |`), firstRow);
  for (const row of v.pages[0].hexdump) assert.match(row, /^(\*|[0-9a-f]{12}  ([0-9a-f]{2} ){7}[0-9a-f]{2}  ([0-9a-f]{2} ){7}[0-9a-f]{2}  \|.{16}\|)$/);

  const inParent = pm.entries.find((e) => e.flags === 'in_parent')!;
  const p = json<PagesView>('show', join(final, 'pages.img'), '--pages', inParent.vaddr, '--json');
  assert.equal(p.pages[0].where, 'in_parent');
  assert.ok(p.pages[0].iteration === 1 || p.pages[0].iteration === 2);
  const text = tracker('show', final, '--pages', inParent.vaddr);
  assert.match(text.stdout, new RegExp(`^page ${inParent.vaddr}  in parent \\(iteration [12]\\)\\n$`));
  const hole = json<PagesView>('show', final, '--pages', '0x1000', '--json');
  assert.equal(hole.pages[0].where, 'not_dumped');
  assertOneLineError(tracker('show', final, '--pages', 'zz'), 2, /--pages must be VADDR\[,N\]/);
});

test('--mems lists the VMAs; --rss counts pages in this image and in each parent', () => {
  const mems = json<MemsView>('show', final, '--mems', '--json');
  assert.deepEqual(mems.vmas.map((v) => [v.prot, v.kind, v.pages]), [['rw-p', 'anon', HEAP_PAGES]]);
  assert.match(tracker('show', final, '--mems').stdout, new RegExp(`^start +end +prot +kind +pages +flags +file\\n0x[0-9a-f]+ +0x[0-9a-f]+ +rw-p +anon +${HEAP_PAGES} +rd wr`));
  const rss = json<RssView>('show', final, '--rss', '--json');
  const [s1, s2, s3] = base.report.iterations;
  assert.equal(rss.totals.in_image, s3.pages_written);
  assert.equal(rss.totals.in_parents, s3.pages_skipped_parent);
  const by = rss.totals.by_iteration;
  assert.equal((by['1'] ?? 0) + (by['2'] ?? 0), s3.pages_skipped_parent);
  assert.equal(by['3'], s3.pages_written);
  assert.equal(by.missing, undefined, 'every in-parent page is found in a parent');
  assert.ok(by['1'] <= s1.pages_written && by['2'] <= s2.pages_written);
  assert.match(tracker('show', final, '--rss').stdout, new RegExp(`^total +${HEAP_PAGES} +\\d+ +\\d+ +1:\\d+ 2:\\d+ 3:\\d+$`, 'm'));
  assertOneLineError(tracker('show', join(base.dir, '2'), '--mems'), 2, /is a pre-dump, which holds no VMAs/);
  assertOneLineError(tracker('show', final, '--mems', '--rss'), 2, /choose one of/);
});

test('stats of a chain agrees with the dump report, whether given the images root or DIR/N', () => {
  const s = json<ChainStats>('stats', base.dir, '--json');
  const r = base.report;
  assert.deepEqual(
    s.iterations.map((i) => [i.iteration, i.type, i.pages_scanned, i.pages_skipped_parent, i.pages_written, i.frozen_time]),
    r.iterations.map((i) => [i.iteration, i.type, i.pages_scanned, i.pages_skipped_parent, i.pages_written, i.frozen_time]),
  );
  assert.equal(s.totals.pages_written, r.totals.pages_written);
  assert.equal(s.totals.bytes_written, r.totals.bytes_written);
  assert.equal(s.final_frozen_time, r.final_frozen_time);
  for (const it of s.iterations) {
    let sum = 0;
    for (const kind of KINDS) {
      const size = it.files[kind];
      if (size === null) assert.ok(it.type === 'pre-dump' && ['mm', 'shmem', 'core'].includes(kind));
      else assert.equal(size, statSync(join(base.dir, it.dir, IMAGE_FILES[kind])).size);
      sum += size ?? 0;
    }
    assert.equal(it.bytes_on_disk, sum);
  }
  const viaFinal = json<ChainStats>('stats', final, '--json');
  assert.deepEqual({ ...viaFinal, images_dir: '' }, { ...s, images_dir: '' });
  const text = tracker('stats', base.dir);
  const t = base.report.totals;
  assert.match(text.stdout, new RegExp(`^total +${3 * HEAP_PAGES} +${t.pages_skipped_parent} +${t.pages_written} `, 'm'));
  assert.match(text.stdout, /downtime \(final dump frozen\): /);
});

test('two runs of the same dump in different folders write byte-identical images', () => {
  for (const it of ['1', '2', '3']) {
    assert.deepEqual(readdirSync(join(base.dir, it)).sort(), readdirSync(join(again.dir, it)).sort());
    for (const f of readdirSync(join(base.dir, it))) assert.ok(readFileSync(join(base.dir, it, f)).equals(readFileSync(join(again.dir, it, f))), `${it}/${f}`);
  }
});

test('compare of identical chains shows no differences and passes any threshold', () => {
  const r = json<CompareResult>('compare', base.dir, again.dir, '--format', 'json', '--max-increase', '0%', '--max-final-increase', '0');
  assert.deepEqual(r.violations, []);
  for (const it of r.iterations) for (const d of [it.pages_written, it.bytes_on_disk, it.frozen_time]) assert.deepEqual([d.diff, d.percent], [0, 0]);
  for (const d of [...Object.values(r.totals), r.final.pages_written, r.final.bytes_on_disk, r.final.downtime]) assert.deepEqual([d.diff, d.percent], [0, 0]);
  const text = tracker('compare', base.dir, join(again.dir, '3'), '--max-increase', '5%');
  assert.equal(text.status, 0, text.stderr);
  const w = base.report.totals.pages_written;
  assert.match(text.stdout, new RegExp(`^total +pages written +${w} +${w} +0 +0\\.0%$`, 'm'));
  assert.match(text.stdout, /ok: within --max-increase 5%/);
});

test('a doubled hot set exceeds --max-increase 5% and compare exits 1 with the reason on one line', () => {
  const model = join(tmp, 'hot16.json');
  writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '8M', hotSet: '1M' } }));
  const head = dump('head', { workload: model });
  const r = tracker('compare', base.dir, head.dir, '--max-increase', '5%');
  assertOneLineError(r, 1, /^tracker: compare: total bytes written grew \d+(\.\d+)?% \(\d+ -> \d+\), over --max-increase 5%\n$/);
  const fin0 = base.report.iterations[2].pages_written;
  assert.match(r.stdout, new RegExp(`^final dump +pages +${fin0} +\\d+ +\\+\\d+ +\\+\\d+\\.\\d%$`, 'm'));
  assert.match(r.stdout, /FAIL: total bytes written grew/);
  const fin = tracker('compare', base.dir, head.dir, '--max-increase', '50%', '--max-final-increase', '10%');
  assertOneLineError(fin, 1, new RegExp(`final-dump pages grew \\d+(\\.\\d+)?% \\(${fin0} -> \\d+\\), over --max-final-increase 10%`));
  const j = tracker('compare', base.dir, head.dir, '--format', 'json', '--max-increase', '5');
  assert.equal(j.status, 1);
  const doc = JSON.parse(j.stdout) as CompareResult;
  assert.ok(doc.totals.bytes_written.percent! > 5);
  assert.equal(doc.violations.length, 1);

  const md = tracker('compare', base.dir, head.dir, '--format', 'markdown');
  assert.equal(md.status, 0, md.stderr);
  const lines = md.stdout.split('\n');
  const h = lines.indexOf('| iteration | metric | base | head | Δ | Δ% |');
  assert.ok(h > 0, md.stdout);
  assert.equal(lines[h + 1], '|---|---|---:|---:|---:|---:|');
  const first = base.report.iterations[0].pages_written;
  assert.match(lines[h + 2], new RegExp(`^\\| 1 \\| pages written \\| ${first} \\| ${first} \\| 0 \\| 0\\.0% \\|$`));
  assert.doesNotMatch(md.stdout, /\x1b\[/, 'no colour codes in markdown');
});

test('a saved `dump --iterative --json` report compares against an images directory', async () => {
  const reportDir = join(tmp, 'from-cli');
  const d = await trackerAsync(['dump', '--iterative', '--json', '-D', reportDir, '--workload', SMALL, '--memory', '64M', '--interval', '5000', '--policy', 'fixed', '--iterations', '3']);
  assert.equal(d.status, 0, d.stderr);
  const file = join(tmp, 'report.json');
  writeFileSync(file, d.stdout);
  const r = json<CompareResult>('compare', file, base.dir, '--format', 'json', '--max-increase', '0');
  assert.deepEqual([r.base.from, r.head.from], ['report', 'images']);
  assert.equal(r.totals.pages_written.diff, 0);
  assert.equal(r.totals.bytes_written.diff, 0);
  assert.equal(r.totals.bytes_on_disk.diff, null, 'a report carries no file sizes');
  assert.equal(r.final.downtime.diff, 0);
  const text = tracker('compare', base.dir, file);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^ +bytes on disk +[\d.]+ (KiB|MiB) +- +- +-$/m);
});

test('garbage, a malformed report, a missing side or a corrupt image is a one-line error', () => {
  const garbage = join(tmp, 'garbage.txt');
  writeFileSync(garbage, 'not json at all\n');
  assertOneLineError(tracker('compare', garbage, base.dir), 2, /base .*garbage\.txt: neither an images directory nor a JSON dump report/);
  assertOneLineError(tracker('compare', base.dir, join(tmp, 'nope')), 2, /head .*nope: no such file or directory/);
  const bad = join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ iterations: [{ iteration: 1, type: 'dump', pages_written: 'x', bytes_written: 0, frozen_time: 0 }] }));
  assertOneLineError(tracker('compare', bad, base.dir), 2, /iterations\[0\]\.pages_written: expected a whole number/);
  writeFileSync(bad, '[1, 2]');
  assertOneLineError(tracker('compare', base.dir, bad), 2, /the document: expected a JSON object/);
  assertOneLineError(tracker('compare', join(final, 'pages.img'), base.dir), 2, /is a single image file/);
  assertOneLineError(tracker('show', garbage), 2, /not a tracker image/);
  assertOneLineError(tracker('show', join(tmp, 'nope')), 2, /no such file or directory/);
  assertOneLineError(tracker('stats', join(tmp, 'nope')), 2, /no such file or directory/);
  assertOneLineError(tracker('compare', base.dir, again.dir, '--format', 'xml'), 2, /--format must be one of text, markdown, json/);

  const broken = dump('broken');
  const st = join(broken.dir, '2', 'stats.img');
  const data = readFileSync(st);
  data[data.length - 3] ^= 0xff;
  writeFileSync(st, data);
  assertOneLineError(tracker('show', st), 3, /checksum mismatch/);
  assertOneLineError(tracker('stats', broken.dir), 3, /checksum mismatch/);
  assertOneLineError(tracker('compare', base.dir, broken.dir), 3, /checksum mismatch/);
  const trunc = join(broken.dir, '3', 'pagemap.img');
  writeFileSync(trunc, readFileSync(trunc).subarray(0, 30));
  assertOneLineError(tracker('show', join(broken.dir, '3')), 3, /truncated or extended/);
});
