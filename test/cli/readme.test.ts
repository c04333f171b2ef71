/**
 * The README's command examples are what the code prints today (test/readme-examples.ts makes
 * them), and its install recipes use what exists: this package is not on the npm registry.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generateExamples, README, readmeExamples, readmeRuns } from '../readme-examples.js';

test('10. the README examples of stats, show --rss, show --pages and compare are regenerated and match (node dist/test/readme-examples.js --write)', async () => {
  const now = readmeExamples();
  assert.deepEqual(Object.keys(now).sort(), ['compare', 'inspect']);
  const fresh = await generateExamples();
  assert.equal(now.inspect, fresh.inspect, 'README "Inspecting images" is stale: run node dist/test/readme-examples.js --write');
  assert.equal(now.compare, fresh.compare, 'README "Comparing dump sizes in CI" is stale: run node dist/test/readme-examples.js --write');
  assert.match(fresh.inspect, /^1 +pre-dump +32768 /m, 'the first pre-dump scans the populated heap');
});

test('every readme-run block (plan, run, refusals) is what its commands print today (node dist/test/readme-examples.js --write)', async () => {
  const { now, fresh } = await readmeRuns();
  assert.ok(now.length >= 5, `the README's plan, guest and refusal examples are readme-run blocks (found ${now.length})`);
  for (let i = 0; i < now.length; i++) assert.equal(now[i], fresh[i], `README readme-run block ${i + 1} (${now[i].split('\n')[0]}) is stale: run node dist/test/readme-examples.js --write`);
});

test('10. no install recipe names the registry package, which is not published: a clone or an npm pack tarball', () => {
  const text = readFileSync(README, 'utf8');
  assert.doesNotMatch(text, /npm install[^\n`]*\bsoft-dirty-tracker(@[\d.]+)?\b(?!-\d)/, 'npm install soft-dirty-tracker fails: the package is not published');
  assert.match(text, /npm pack/);
  assert.match(text, /npm install [^\n`]*soft-dirty-tracker-0\.1\.0\.tgz/);
});
