/**
 * Token memory (page-alloc.ts): frames carry a content token, page bytes are synthesised where
 * they are needed. Images stay deterministic and restorable; the cost per resident page is small.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { Kernel } from '../../src/mm/kernel.js';
import { PageAlloc, synthesizePage } from '../../src/mm/page-alloc.js';
import { restore } from '../../src/migrate/resume.js';
import { checkFits, estimateRss } from '../../src/migrate/capacity.js';
import { memDigest } from '../../src/proc/mem-digest.js';
import { clearRefsWrite } from '../../src/proc/clear-refs.js';
import { createWorkload } from '../../src/workload/index.js';
import { quickDump, scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-token-');
after(() => rmSync(tmp, { recursive: true, force: true }));

function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const it of readdirSync(dir).filter((d) => /^\d+$/.test(d))) for (const f of readdirSync(join(dir, it))) out.set(`${it}/${f}`, readFileSync(join(dir, it, f)));
  return out;
}

for (const workload of ['hot-cold', 'swap', 'thp', 'churn']) {
  test(`token memory, ${workload}: the same seed gives byte-identical images, and the chain restores with its digest`, () => {
    const opts = { workload, memoryModel: 'token' as const, memoryBytes: 64 << 20, params: workload === 'churn' ? { bufferSize: '128K' } : { heap: '4M', hotSet: '256K' } };
    const a = quickDump(tmp, `${workload}-a`, opts);
    const b = quickDump(tmp, `${workload}-b`, opts);
    assert.deepEqual(files(a.dir), files(b.dir));
    const r = restore({ dir: join(a.dir, '3'), resumeSteps: 0, verify: false });
    assert.equal(r.digest_ok, true);
    assert.throws(() => restore({ dir: join(a.dir, '3'), resumeSteps: 0, verify: true }), (e) => e instanceof UsageError && /--verify needs images dumped with --memory-model content/.test(e.message));
    // A different seed writes other pages at other times: other contents.
    const c = quickDump(tmp, `${workload}-c`, { ...opts, seed: 2 });
    assert.notDeepEqual(files(a.dir), files(c.dir));
  });
}

test('synthesised pages: zeros for token 0, a fill byte for 1..255, never zero for written pages', () => {
  const page = new Uint8Array(8192);
  synthesizePage(0, page, 0);
  assert.ok(page.subarray(0, 4096).every((x) => x === 0));
  synthesizePage(0x5a, page, 4096);
  assert.ok(page.subarray(4096).every((x) => x === 0x5a));
  for (const t of [256, 257, 0xffffffff]) {
    synthesizePage(t, page, 0);
    assert.ok(page.subarray(0, 4096).some((x) => x !== 0));
  }
  const other = new Uint8Array(4096);
  synthesizePage(257, other, 0);
  synthesizePage(256, page, 0);
  assert.notDeepEqual(page.subarray(0, 4096), other);
});

test('token memory holds no page bytes: a written frame changes token, a copied one keeps it', () => {
  const m = new PageAlloc(64 << 20, 'token');
  assert.equal(m.chunks.length, 0);
  const a = m.allocFrame(0);
  assert.equal(m.isZeroFilled(a), true);
  m.touch(a);
  assert.equal(m.isZeroFilled(a), false);
  const b = m.allocFrame(0);
  m.copyFrame(b, a);
  assert.deepEqual(m.frame(b), m.frame(a));
  m.touch(b);
  assert.notDeepEqual(m.frame(b), m.frame(a));
  assert.equal(m.chunks.length, 0);
});

test('the memory digest of a token process covers the synthesised bytes: writes after a clear_refs change it, the same run gives the same', () => {
  const run = (after: number) => {
    const p = createWorkload(new Kernel({ memoryBytes: 64 << 20, memoryModel: 'token' }), 'uniform', 4, { heap: '4M' });
    p.run(3000);
    // Until a write is write-protected again (clear_refs, as before every pre-dump), a page keeps its token.
    clearRefsWrite(p.task.mm, '4');
    p.run(after);
    return memDigest(p.task);
  };
  assert.equal(run(500), run(500));
  assert.notEqual(run(0), run(500));
});

test('a guest that cannot fit is refused up front in one line, naming the estimate and the machine', () => {
  assert.throws(
    () => checkFits('guest', { memory: '64G' }, 'content', 1, 24 * 1024 ** 3),
    (e: Error) => /^guest: 64 GiB of guest memory needs about \d+ GiB of RSS with --memory-model content, and this machine has 24 GiB; use --memory-model token/.test(e.message) && !e.message.includes('\n'),
  );
  checkFits('guest', { memory: '64G' }, 'token', 1, 24 * 1024 ** 3);
  assert.throws(() => checkFits('guest', { memory: '4T' }, 'token', 4, 24 * 1024 ** 3), /in 4 parallel runs.*use fewer --jobs/);
  assert.ok(estimateRss(8 * 1024 ** 3, 'token') < 1024 ** 3);
});
