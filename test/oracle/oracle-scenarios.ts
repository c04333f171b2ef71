/**
 * The oracle's recorded scenarios (fixtures/oracle/KERNEL), replayed by `tracker script --json`.
 * Split in parts that are test files of their own (scenarios-N.test.ts), so that npm test's two
 * workers share them: every part checks its scenarios (every PARTS-th, from PART) on both kernels.
 * Together the parts check each scenario once, as one test did.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrace, ROOT, traceSets } from './traces.js';

const KERNELS = ['6.1', '6.12'] as const;

/**
 * Scenarios the profile is known not to reproduce yet, one name a line with the reason after '#'.
 * Each must still differ (so a fix has to take it off the list); every other one must be exact.
 */
function knownDivergent(kernel: string): Map<string, string> {
  const f = join(ROOT, 'fixtures', 'oracle', kernel, 'divergent.txt');
  const out = new Map<string, string>();
  if (!existsSync(f)) return out;
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /^\s*([^#\s]+)\s*(?:#\s*(.*))?$/.exec(line);
    if (m !== null) out.set(m[1], m[2] ?? '');
  }
  return out;
}

/** Register the test of part `part` (1-based) of `parts`. */
export function oracleScenarios(part: number, parts: number): void {
  for (const kernel of KERNELS) {
    const oracle = traceSets(kernel)[1];
    test(`tracker script --json reproduces the oracle's Linux ${kernel} traces (except the listed divergences), part ${part} of ${parts}`, (t0) => {
      assert.ok(oracle.traces.length >= 300, `only ${oracle.traces.length} recorded scenarios`);
      const mine = oracle.traces.filter((_, i) => i % parts === part - 1);
      const known = knownDivergent(kernel);
      const unexpected: string[] = [];
      const fixed: string[] = [];
      let exact = 0;
      let same = 0;
      let total = 0;
      for (const t of mine) {
        const c = compareTrace(t, kernel);
        same += c.same;
        total += c.total;
        if (c.exact) exact++;
        if (c.exact && known.has(t.name)) fixed.push(t.name);
        if (!c.exact && !known.has(t.name)) unexpected.push(`${t.name}: observation ${c.firstDiff}\n  want ${t.expected[c.firstDiff]}\n  got  ${c.got[c.firstDiff]}`);
      }
      t0.diagnostic(`Linux ${kernel}, part ${part} of ${parts}: scenarios ${exact}/${mine.length} (of ${oracle.traces.length}), observations ${same}/${total}`);
      assert.deepEqual(unexpected, [], `new divergences:\n${unexpected.join('\n')}`);
      assert.deepEqual(fixed, [], `now exact, take them off fixtures/oracle/${kernel}/divergent.txt: ${fixed.join(' ')}`);
    });
  }
}
