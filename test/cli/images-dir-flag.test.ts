/**
 * What -D names: the root of a chain for dump --iterative, one iteration (DIR/N, CRIU's meaning)
 * for dump without --iterative, pre-dump and restore. A dump by hand never falls back on the
 * root's default name.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { trackerAsync as tracker } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-dflag-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('dump without --iterative and without -D is refused in one line (no default iteration), and writes nothing', async () => {
  const r = await tracker(['dump', '--workload', 'idle'], { cwd: tmp });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'tracker: dump without --iterative needs -D DIR/N, the iteration to write (e.g. -D img/3 --prev-images-dir ../2 --track-mem)\n');
  assert.ok(!existsSync(join(tmp, 'tracker-images')));
});

test('--help of dump, pre-dump and restore says which -D is a root and which one iteration', async () => {
  const dump = (await tracker(['dump', '--help'])).stdout;
  // The engines' long flags set the help's column: the wrap falls anywhere.
  assert.match(dump, /with --iterative:\s+the\s+root\s+DIR\/1\s+\.\.\s+DIR\/N\s+go\s+in\s+\(default:\s+tracker-images\);\s+without:\s+this\s+one\s+iteration,\s+DIR\/N/);
  assert.match(dump, /So `dump --iterative -D img` is restored with `restore -D img\/N`/);
  assert.match((await tracker(['pre-dump', '--help'])).stdout, /this one iteration, DIR\/N/);
  assert.match((await tracker(['restore', '--help'])).stdout, /the final dump, DIR\/N/);
});
