/** The report's heat map, read from a chain through page-read: every dumped page in one bucket. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { heatMapFromImages } from '../../src/migrate/heatmap.js';
import { ImageError } from '../../src/errors.js';
import { dumper, scratchDir, smallHotCold } from '../helpers/dump.js';

const tmp = scratchDir('tracker-heatmap-');
after(() => rmSync(tmp, { recursive: true, force: true }));
const dump = dumper(tmp, { workload: smallHotCold(tmp), interval: 4000, memoryBytes: 64 << 20 });

test('each iteration row counts exactly the pages it wrote, in at most maxBuckets buckets', () => {
  const { dir, report } = dump('chain');
  const h = heatMapFromImages(dir, report.iterations.length, 50);
  assert.deepEqual(h.types, ['pre-dump', 'pre-dump', 'dump']);
  assert.ok(h.counts[0].length <= 50);
  assert.equal(h.pages, 1024, 'the 4 MiB heap');
  assert.deepEqual(
    h.counts.map((row) => row.reduce((a, b) => a + b, 0)),
    report.iterations.map((s) => s.pages_written),
  );
});

test('a chain whose last iteration is not a final dump is refused through page-read', () => {
  const { dir } = dump('pre', { iterations: 3 });
  rmSync(join(dir, '3'), { recursive: true });
  assert.throws(() => heatMapFromImages(dir, 2), (e) => e instanceof ImageError && /is a pre-dump; the heat map needs the final dump/.test(e.message));
});
