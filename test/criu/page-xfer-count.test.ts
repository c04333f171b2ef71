/**
 * The counting page-xfer against a real dump: the same rows, field by field, and the same image
 * files with the same sizes, iteration by iteration; token memory under the count changes nothing.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type IterativeDumpOptions } from '../../src/migrate/iterative.js';
import type { CountedIteration } from '../../src/criu/page-xfer-count.js';
import { runPlan } from '../../src/migrate/plan.js';
import { scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-count-');
after(() => rmSync(tmp, { recursive: true, force: true }));

const CASES: Partial<IterativeDumpOptions>[] = [
  { workload: 'hot-cold', params: { heap: '4M', hotSet: '256K' }, policy: 'phaul' },
  { workload: 'guest', params: { memory: '8M', dirtyRate: '1M/s', wss: '2M', vcpus: 2, zeroFraction: 0.25 }, policy: 'qemu', bandwidth: 4 * 1024 ** 2 },
  { workload: 'swap', params: { heap: '4M', hotSet: '256K', pageoutPages: '1M', pageoutEvery: 2000 }, policy: 'fixed', iterations: 3 },
  { workload: 'thp', params: { heap: '4M', hotSet: '256K' }, policy: 'go-phaul', kernel: '6.12' },
  { workload: 'churn', params: { bufferSize: '128K' }, policy: 'qemu', preDumpMode: 'read' },
];

let n = 0;
for (const c of CASES) {
  test(`counting page-xfer: ${c.workload} (${c.policy}) gives the real dump's rows and image sizes`, () => {
    const base: IterativeDumpOptions = { ...DEFAULT_DUMP_OPTIONS, imagesDir: '', workload: 'hot-cold', seed: 3, kernel: '6.1', interval: 20_000, force: false, memoryBytes: 64 << 20, ...c };
    for (const model of ['content', 'token'] as const) {
      const dir = join(tmp, `real-${n++}`);
      const real = iterativeDump({ ...base, imagesDir: dir, memoryModel: model });
      const count = { keep: false, digest: true, iterations: [] as CountedIteration[] };
      const counted = iterativeDump({ ...base, count, memoryModel: model });
      assert.deepEqual({ ...counted, images_dir: dir }, real, `${model}: every field of the report`);
      assert.equal(count.iterations.length, real.iterations.length);
      count.iterations.forEach((it, i) => {
        const d = join(dir, String(i + 1));
        const sizes = Object.fromEntries(readdirSync(d).map((f) => [f, statSync(join(d, f)).size]));
        assert.deepEqual(it.files, sizes, `${model}: iteration ${i + 1}'s files and their sizes`);
        assert.equal(it.committed, true);
      });
    }
  });
}

test('tracker plan counts by default: the same rows as writing each combination\'s images', async () => {
  const o = { workload: 'hot-cold', params: { heap: '4M', hotSet: '256K' }, seed: 1, kernel: '6.1' as const, bandwidths: [12.5e6, 1.25e9], policies: ['phaul' as const, 'qemu' as const], downtimeLimit: 0.3, interval: { seconds: 0.02 }, jobs: 0, memoryBytes: 64 << 20, heatmaps: true, tmpRoot: tmp };
  const counted = await runPlan(o);
  const written = await runPlan({ ...o, images: true, memoryModel: 'content' });
  assert.deepEqual(counted.plan, written.plan);
  assert.deepEqual(counted.results.map((r) => r.heatmap), written.results.map((r) => r.heatmap));
  assert.deepEqual(counted.results.map((r) => r.report), written.results.map((r) => r.report));
});
