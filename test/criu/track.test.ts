/**
 * The tracking backends (--track): each one's chains restore with the memory digest verified, on
 * every built-in workload that runs on 6.12; kernels without a backend refuse it in one line;
 * false positives are counted against the truly written set; pagemap-scan counts pages_scanned as
 * CRIU's generate_iovs() does.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TRACK_BACKENDS, trackUnsupported } from '../../src/criu/track.js';
import { UsageError } from '../../src/errors.js';
import { Kernel } from '../../src/mm/kernel.js';
import { restore } from '../../src/migrate/resume.js';
import { trackerAsync } from '../helpers/cli.js';
import { dumper, modelFile, scratchDir } from '../helpers/dump.js';
import { SMALL_WORKLOADS } from '../helpers/workloads.js';

const tmp = scratchDir('tracker-track-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The built-in workloads on small heaps, but guest and curve (models of a measured dirty rate, added after this matrix was recorded). */
const SMALL = Object.fromEntries(Object.entries(SMALL_WORKLOADS).filter(([w]) => w !== 'guest' && w !== 'curve'));

const dump = dumper(tmp, { interval: 5000, bandwidth: 8 * 1024 ** 3, memoryBytes: 64 << 20, policy: 'fixed', iterations: 3, kernel: '6.12' });

for (const track of TRACK_BACKENDS) {
  test(`--track ${track} on 6.12: every built-in workload's chain restores with the digest verified`, () => {
    for (const w of Object.keys(SMALL)) {
      const { dir, report } = dump({ workload: modelFile(tmp, w, w, SMALL[w]), track, truth: true });
      assert.equal(report.track, track);
      assert.equal(report.iterations.length, 3);
      // mincore misses a page swapped out and dropped from the swap cache, as mincore(2) does:
      // its "sparse" dump loses it, and restore says so instead of passing.
      const r = restore({ dir: join(dir, '3'), resumeSteps: 2000, verify: true, onMismatch: 'report' });
      if (track === 'mincore' && w === 'swap') assert.equal(r.digest_ok, false, `${w}: mincore cannot see swapped-out pages`);
      else {
        assert.equal(r.digest_ok, true, `${track} ${w}: digest`);
        assert.equal(r.verify.identical, true, `${track} ${w}: resumed run`);
      }
      const later = report.iterations.slice(1);
      if (track === 'none' || track === 'mincore') {
        // Full every time: nothing is left to a parent.
        assert.ok(later.every((i) => i.pages_skipped_parent === 0));
      } else if (w !== 'idle' && !(w === 'thp' && track !== 'uffd-wp')) {
        // (Soft-dirty marks a written THP whole, and this heap is two THPs, both written.)
        assert.ok(later.some((i) => i.pages_skipped_parent > 0), `${track} ${w}: incremental`);
      }
      assert.ok(later.every((i) => i.false_positives !== null && i.false_positives >= 0));
    }
  });
}

test('the incremental backends dump no false positives on hot-cold; full backends dump the whole heap again', () => {
  const fp: Record<string, number> = {};
  for (const track of TRACK_BACKENDS) fp[track] = dump({ workload: modelFile(tmp, 'hot-cold', 'hot-cold', SMALL['hot-cold']), track, truth: true }).report.totals.false_positives!;
  assert.equal(fp['soft-dirty'], 0);
  assert.equal(fp['pagemap-scan'], 0);
  assert.equal(fp['uffd-wp'], 0);
  assert.ok(fp.none > 500 && fp.mincore >= fp.none, JSON.stringify(fp));
});

test('pagemap-scan counts pages_scanned as CRIU does: each page dumped or left to the parent, plus one per jump', () => {
  const { report } = dump({ workload: modelFile(tmp, 'idle', 'idle', SMALL.idle), track: 'pagemap-scan' });
  const sd = dump({ workload: modelFile(tmp, 'idle', 'idle', SMALL.idle), track: 'soft-dirty' }).report;
  for (let i = 0; i < 3; i++) {
    const a = report.iterations[i];
    const b = sd.iterations[i];
    // The same pages either way; soft-dirty reads every entry of the VMAs, the scan only its runs.
    assert.equal(a.pages_written + a.pages_skipped_parent, b.pages_written + b.pages_skipped_parent);
    assert.ok(a.pages_scanned >= a.pages_written + a.pages_skipped_parent);
    assert.ok(a.pages_scanned <= b.pages_scanned);
  }
});

test('a kernel without the backend refuses it in one line, exit 2', async () => {
  const k61 = new Kernel({ profile: '6.1', memoryBytes: 16 << 20 });
  assert.match(trackUnsupported(k61, 'pagemap-scan')!, /no PAGEMAP_SCAN ioctl/);
  assert.match(trackUnsupported(k61, 'uffd-wp')!, /no userfaultfd UFFD_FEATURE_WP_ASYNC/);
  assert.equal(trackUnsupported(k61, 'soft-dirty'), null);
  assert.match(trackUnsupported(new Kernel({ profile: 'no-soft-dirty', memoryBytes: 16 << 20 }), 'soft-dirty')!, /no soft-dirty tracking/);
  assert.throws(() => dump({ kernel: '6.1', track: 'uffd-wp', workload: modelFile(tmp, 'idle', 'idle', SMALL.idle) }), (e) => e instanceof UsageError && e.exitCode === 2);
  const r = await trackerAsync(['dump', '--iterative', '-D', join(tmp, 'refused'), '--kernel', '6.1', '--track', 'pagemap-scan', '--workload', 'idle']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--track pagemap-scan: kernel profile '6\.1' has no PAGEMAP_SCAN ioctl/);
});

test('tracker plan --track: one row per backend, with pages, false positives and frozen time; run --track samples through the backend', async () => {
  const { runPlan } = await import('../../src/migrate/plan.js');
  const { plan } = await runPlan({
    workload: modelFile(tmp, 'hot-cold', 'hot-cold', SMALL['hot-cold']),
    seed: 1,
    kernel: '6.12',
    bandwidths: [1e9 / 8],
    policies: ['fixed'],
    iterations: 3,
    downtimeLimit: 0.3,
    interval: { steps: 5000 },
    memoryBytes: 64 << 20,
    jobs: 0,
    tracks: ['soft-dirty', 'uffd-wp', 'none'],
  });
  assert.deepEqual(plan.rows.map((r) => r.track), ['soft-dirty', 'uffd-wp', 'none']);
  for (const r of plan.rows) assert.ok(r.false_positives !== null && r.frozen_s > 0 && r.pages_written > 0);
  const none = plan.rows[2];
  assert.ok(none.false_positives! > plan.rows[0].false_positives!);
  const { runMeasured } = await import('../../src/migrate/run.js');
  const { createWorkload } = await import('../../src/workload/index.js');
  const sample = (track: 'soft-dirty' | 'uffd-wp' | 'mincore') =>
    runMeasured(createWorkload(new Kernel({ profile: '6.12', memoryBytes: 64 << 20 }), modelFile(tmp, 'hot-cold', 'hot-cold', SMALL['hot-cold']), 1), { duration: { steps: 20000 }, sampleInterval: { steps: 5000 }, track });
  const sd = sample('soft-dirty');
  const wp = sample('uffd-wp');
  const mc = sample('mincore');
  assert.equal(wp.track, 'uffd-wp');
  // Per 4 KiB both ways on this heap (no THP): the same dirty pages.
  assert.deepEqual(wp.samples.map((s) => s.dirty_pages), sd.samples.map((s) => s.dirty_pages));
  // mincore has no notion of dirty: every resident page, every sample.
  assert.ok(mc.samples.every((s) => s.dirty_pages! >= s.rss_pages));
});
