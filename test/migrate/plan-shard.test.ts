/**
 * plan --shard i/n and plan merge: the merged table, JSON and report equal the unsharded plan's
 * byte for byte; blobs of another plan, a shard given twice or missing are refused by name.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { renderPlan } from '../../src/cli/plan.js';
import { InputError } from '../../src/errors.js';
import { planReportInput, runPlan, type PlanOptions } from '../../src/migrate/plan.js';
import { decodeShard, encodeShard, mergePlanShards, parseShard, runPlanShard, type PlanShardBlob } from '../../src/migrate/plan-shard.js';
import { renderReport } from '../../src/migrate/report.js';
import { trackerInProcess } from '../helpers/cli.js';
import { scratchDir } from '../helpers/dump.js';

const tmp = scratchDir('tracker-shard-');
after(() => rmSync(tmp, { recursive: true, force: true }));

const O: PlanOptions = {
  workload: 'hot-cold',
  params: { heap: '4M', hotSet: '256K' },
  seed: 2,
  kernel: '6.1',
  bandwidths: [12.5e6, 125e6, 1.25e9],
  policies: ['phaul', 'qemu', 'go-phaul'],
  downtimeLimit: 0.3,
  interval: { seconds: 0.01 },
  maxIters: 5,
  memoryBytes: 64 << 20,
  jobs: 0,
  heatmaps: true,
  fast: true,
};

test('3 shards merged give the unsharded plan byte for byte: table, JSON and report', async () => {
  const whole = await runPlan(O);
  const blobs: { blob: PlanShardBlob; where: string }[] = [];
  for (const i of [3, 1, 2]) {
    const b = await runPlanShard({ ...O, jobs: i === 2 ? 2 : 0 }, { index: i, count: 3 });
    assert.equal(b.indexes.length, 3);
    // Through the file format, as merge reads it.
    blobs.push({ blob: decodeShard(encodeShard(b), `shard${i}`), where: `shard${i}` });
  }
  const merged = mergePlanShards(blobs);
  assert.equal(JSON.stringify(merged.plan, null, 2), JSON.stringify(whole.plan, null, 2));
  assert.equal(renderPlan(merged.plan), renderPlan(whole.plan));
  assert.equal(renderReport(planReportInput(merged)), renderReport(planReportInput(whole)));
});

test('merge refuses a shard twice, a missing shard, and a shard of another plan, naming the file', async () => {
  const a = await runPlanShard(O, { index: 1, count: 2 });
  const b = await runPlanShard(O, { index: 2, count: 2 });
  const other = await runPlanShard({ ...O, seed: 3 }, { index: 2, count: 2 });
  assert.throws(() => mergePlanShards([{ blob: a, where: 'a' }, { blob: a, where: 'a2' }]), (e) => e instanceof InputError && /^a2: shard 1\/2 again/.test(e.message));
  assert.throws(() => mergePlanShards([{ blob: b, where: 'b' }]), /shard 1\/2 missing/);
  assert.throws(() => mergePlanShards([{ blob: a, where: 'a' }, { blob: other, where: 'other' }]), /other: a shard of another plan than a/);
  assert.doesNotThrow(() => mergePlanShards([{ blob: b, where: 'b' }, { blob: a, where: 'a' }]));
  assert.throws(() => parseShard('0/3'), /--shard must be i\/n/);
  assert.throws(() => parseShard('4/3'), /--shard must be i\/n/);
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
});

test('tracker plan merge: damaged or foreign files are refused in one line', () => {
  const junk = join(tmp, 'junk.json');
  writeFileSync(junk, '{"format":"something-else"}');
  const r = trackerInProcess('plan', 'merge', junk);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /^tracker: .*junk\.json: not a tracker plan shard; give the files `tracker plan --shard` wrote\n$/);
  const missing = trackerInProcess('plan', 'merge', join(tmp, 'nope.json'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nope\.json: cannot read the plan shard \(ENOENT\)/);
});
