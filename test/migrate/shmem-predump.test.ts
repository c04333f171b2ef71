/**
 * Shared anonymous memory is pre-dumped and counted like private memory (CRIU's cr_pre_dump_tasks
 * calls cr_dump_shmem; shmem.c dumps only soft-dirty pages against a parent), and its pages cost
 * frozen time at the link's speed: 16 MiB of MAP_SHARED at 100 Mbit/s is at least 1.34 s.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type IterativeDumpOptions } from '../../src/migrate/iterative.js';
import { restore } from '../../src/migrate/resume.js';
import { CRIU_FIXED_COSTS } from '../../src/migrate/timing.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-shmem-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const PAGE = 4096;
const LINK = 100e6 / 8;

function script(name: string, body: string): string {
  const p = join(tmp, `${name}.ops`);
  writeFileSync(p, body);
  return p;
}

function dump(extra: Partial<IterativeDumpOptions>) {
  return iterativeDump({ ...DEFAULT_DUMP_OPTIONS, imagesDir: join(tmp, `d${n++}`), workload: 'hot-cold', seed: 1, kernel: '6.1', force: false, memoryBytes: 128 << 20, bandwidth: LINK, ...extra });
}

const SHARED16 = 'mmap buf 4096 rw shared\nwrite buf 0 4096\nmmap small 16 rw anon\nwrite small 0 16\n';

test('16 MiB of MAP_SHARED in one dump at 100 Mbit/s: its pages, its bytes and >= 1.34 s of downtime', () => {
  const r = dump({ workload: script('shared16', SHARED16), policy: 'fixed', iterations: 1, interval: { seconds: 0.01 } });
  const it = r.iterations[0];
  assert.equal(it.shpages_scanned, 4096);
  assert.equal(it.shpages_written, 4096);
  assert.equal(it.pages_written, 16);
  assert.equal(r.bytes_sent, (4096 + 16) * PAGE);
  const memory = ((4096 + 16) * PAGE) / LINK;
  assert.ok(memory >= 1.34);
  assert.ok(r.downtime_s >= memory + CRIU_FIXED_COSTS.switchover - 1e-9, `downtime ${r.downtime_s}`);
  assert.ok(r.downtime_s < memory + CRIU_FIXED_COSTS.switchover + 0.01);
  assert.equal(restore({ dir: join(r.images_dir, '1'), resumeSteps: 0, verify: false }).digest_ok, true);
});

test('shared pages are pre-dumped while frozen, and the dump writes only those dirtied since', () => {
  // Three lines run before the pre-dump (two mmaps, write all 4096 shared pages), two before the
  // dump (rewrite 1024 shared pages, write the 16 private ones).
  const body = 'mmap small 16 rw anon\nmmap buf 4096 rw shared\nwrite buf 0 4096\nwrite buf 0 1024 0xBB\nwrite small 0 16\n';
  const r = dump({ workload: script('shared-rewrite', body), policy: 'fixed', iterations: 2, interval: 3, switchoverCost: 0, predumpCost: 0 });
  const [pre, fin] = r.iterations;
  assert.deepEqual([pre.shpages_written, pre.shpages_skipped_parent], [4096, 0]);
  assert.ok(pre.frozen_s >= (4096 * PAGE) / LINK - 1e-6, `pre-dump frozen ${pre.frozen_s}: cr_dump_shmem runs before the unfreeze`);
  assert.deepEqual([fin.shpages_written, fin.shpages_skipped_parent, fin.pages_written], [1024, 3072, 16]);
  within(fin.frozen_s, ((1024 + 16) * PAGE) / LINK, 0.01);
  assert.equal(r.bytes_sent, (4096 + 1024 + 16) * PAGE);
  assert.equal(restore({ dir: join(r.images_dir, '2'), resumeSteps: 0, verify: true }).verify.identical, true);
});

test('memdump_time is TIME_MEMDUMP: in a dump it includes the write, in a pre-dump it does not', () => {
  const r = dump({ workload: 'hot-cold', policy: 'fixed', iterations: 2, bandwidth: 1024 ** 3 });
  const [pre, fin] = r.iterations;
  assert.ok(pre.memdump_time < pre.memwrite_time, 'pre-dump: pagemap + splice, the write comes after the unfreeze');
  assert.ok(fin.memdump_time >= fin.memwrite_time, 'dump: the write is inside TIME_MEMDUMP');
  assert.ok(fin.frozen_time >= fin.memdump_time + Math.round(CRIU_FIXED_COSTS.switchover * 1e6) - 1);
  assert.ok(pre.frozen_time >= Math.round(CRIU_FIXED_COSTS.preDump * 1e6));
});

function within(actual: number, expected: number, tol: number): void {
  assert.ok(Math.abs(actual - expected) / expected <= tol, `${actual} vs ${expected}`);
}
