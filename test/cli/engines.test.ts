/**
 * The engines' flags on the command line: kubevirt with VEP 291 reports its outcome and the
 * monitor's actions; flags of another engine and bad values are refused with exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { trackerAsync as tracker } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-engines-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const guest = join(tmp, 'guest.json');
writeFileSync(guest, JSON.stringify({ model: 'hot-cold', params: { heap: '8M', hotSet: '1M', rate: 100000 } }));

test('dump --iterative --policy kubevirt --downtime-tuning: outcome, actions and passes in the JSON', async () => {
  const r = await tracker(['dump', '--iterative', '--workload', guest, '--policy', 'kubevirt', '--downtime-tuning', '--bandwidth', '20Mbit', '--vm-memory', '8G', '-D', join(tmp, 'k'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(['converged', 'post-copy', 'paused', 'aborted', 'not converged'].includes(j.outcome));
  assert.equal(j.actions[0].kind, 'set-downtime');
  assert.equal(j.actions[0].seconds, 0.15, "VEP 291's initialMs");
  assert.ok(j.iterations.every((i: { pages_sent?: number }) => typeof i.pages_sent === 'number'));
});

test('engine flags refuse the policies they do not belong to, and bad values, with exit 2', async () => {
  for (const [flags, re] of [
    [['--policy', 'phaul', '--allow-post-copy'], /--allow-post-copy is KubeVirt's: it goes with --policy kubevirt/],
    [['--policy', 'phaul', '--max-bandwidth', '1G'], /--max-bandwidth is QEMU's/],
    [['--policy', 'qemu', '--stall-margin', '120'], /--stall-margin must be a percentage/],
  ] as const) {
    const r = await tracker(['dump', '--iterative', '--workload', guest, '-D', join(tmp, `x${Math.random()}`), ...flags]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.match(r.stderr.trim().split('\n')[0], re, 'the first line says it');
  }
});
