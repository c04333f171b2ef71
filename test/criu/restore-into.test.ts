/**
 * Restore into a machine kept from an earlier restore (restoreProcess's `into`): its recycled
 * frames come back in any order, so page data is filled from page-read's window into scattered
 * frames; the memory must still be exactly what was dumped. And the dump's pages.img, whose CRC is
 * computed after its data is written, is the same file a chunk-by-chunk writer makes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32, encodeImage, HEADER_BYTES, readImage } from '../../src/criu/image.js';
import { dumpIteration } from '../../src/criu/mem-dump.js';
import { openChain, restoreArgs } from '../../src/criu/page-read.js';
import { restoreImages, restoreProcess } from '../../src/criu/restore.js';
import { Kernel } from '../../src/mm/kernel.js';
import { mmap, PROT_READ, PROT_WRITE } from '../../src/mm/mmap.js';
import { memDigest } from '../../src/proc/mem-digest.js';
import type { WorkloadProcess } from '../../src/workload/process.js';
import { scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-test-into-');
after(() => rmSync(tmp, { recursive: true, force: true }));

const OPTS = { trackMem: true, format: 'pagemap' as const, softDirty: true, preDumpMode: 'splice' as const, bandwidth: 1024 ** 3, kernelName: '6.1' as const };

function process(pages: number): WorkloadProcess {
  const kernel = new Kernel({ memoryBytes: 64 << 20 });
  const task = kernel.spawn('t');
  const start = mmap(task.mm, { pages, prot: PROT_READ | PROT_WRITE, kind: 'anon' });
  for (let p = 0; p < pages; p++) for (let o = 0; o < 4096; o += 511) task.mm.store8(start + p, o, (p * 7 + o) & 255);
  const id = { model: 'test', source: 'test', seed: 0, params: {} };
  return { kernel, task, identity: id, steps: 0, run: () => undefined, saveState: () => ({ identity: id, steps: 0 }) };
}

test('a restore into a kept machine fills its scattered, recycled frames exactly', () => {
  const proc = process(3000);
  const root = join(tmp, 'into');
  mkdirSync(root);
  dumpIteration(proc, { ...OPTS, imagesRoot: root, iteration: 1, type: 'pre-dump', hasParent: false });
  dumpIteration(proc, { ...OPTS, imagesRoot: root, iteration: 2, type: 'dump', hasParent: true });
  const want = memDigest(proc.task);
  const first = restoreProcess(restoreArgs(openChain(join(root, '2')))).sys.task;
  assert.equal(memDigest(first), want);
  const kernel = first.kernel;
  kernel.exit(first);
  const again = restoreProcess(restoreArgs(openChain(join(root, '2'))), kernel).sys.task;
  assert.equal(again.kernel, kernel);
  // The recycled frames are not in address order: the window path was taken.
  const mm = again.mm;
  const v = mm.vmas[0].start;
  let scattered = 0;
  for (let i = 0; i + 1 < 3000; i++) if (mm.framePfn(v + i + 1) !== mm.framePfn(v + i) + 1) scattered++;
  assert.ok(scattered > 1000, `only ${scattered} breaks between neighbouring frames`);
  assert.equal(memDigest(again), want);
  assert.throws(() => restoreProcess(restoreArgs(openChain(join(root, '2'))), new Kernel({ profile: '6.12', memoryBytes: 64 << 20 })), /kernel profile 6\.1/);
});

test('pages.img checksummed after its data is written holds the CRC of its payload', () => {
  const proc = process(8192); // 32 MiB: past the size where the CRC waits for the flush
  const root = join(tmp, 'crc');
  mkdirSync(root);
  dumpIteration(proc, { ...OPTS, imagesRoot: root, iteration: 1, type: 'pre-dump', hasParent: false });
  const img = readFileSync(join(root, '1', 'pages.img'));
  assert.equal(img.length, HEADER_BYTES + 8192 * 4096);
  assert.equal(img.readUInt32LE(16), crc32(img.subarray(HEADER_BYTES)) >>> 0);
});

test('the memory digest is BLAKE3, and a chain whose dump recorded SHA-256 (older tracker) still restores', () => {
  const proc = process(64);
  const root = join(tmp, 'digest');
  mkdirSync(root);
  dumpIteration(proc, { ...OPTS, imagesRoot: root, iteration: 1, type: 'dump', hasParent: false });
  const inv = join(root, '1', 'inventory.img');
  const recorded = (readImage(inv, 'inventory') as { memoryDigest: string }).memoryDigest;
  assert.match(recorded, /^blake3:[0-9a-f]{64}$/);
  assert.equal(restoreImages(join(root, '1')).report.memory_digest, recorded);
  const sha = memDigest(proc.task, 'sha256');
  assert.match(sha, /^[0-9a-f]{64}$/);
  writeFileSync(inv, encodeImage('inventory', { ...(readImage(inv, 'inventory') as object), memoryDigest: sha }));
  const r = restoreImages(join(root, '1'));
  assert.equal(r.report.digest_ok, true);
  assert.equal(r.report.memory_digest, sha);
  // A byte changed after the dump changes either digest.
  proc.task.mm.store8(proc.task.mm.vmas[0].start + 3, 5, 0xee);
  assert.notEqual(memDigest(proc.task), recorded);
  assert.notEqual(memDigest(proc.task, 'sha256'), sha);
});
