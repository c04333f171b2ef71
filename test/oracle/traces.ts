/**
 * Recorded real-kernel traces and how tracker compares with them, shared by the regression test
 * (test/oracle/*.test.ts) and the report tool (compare.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scriptObservations } from '../../src/cli/script.js';
import type { KernelProfileName } from '../../src/mm/kernel-profile.js';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

export interface Trace {
  name: string;
  script: string;
  /** The recorded lines, `scenario` field removed, as JSON text. */
  expected: string[];
}

/** Every NAME.ops of DIR/scenarios with a DIR/<traces>/NAME.jsonl. */
export function loadTraces(dir: string, traces = 'traces'): Trace[] {
  const out: Trace[] = [];
  const sdir = join(dir, 'scenarios');
  if (!existsSync(sdir)) return out;
  for (const f of readdirSync(sdir).filter((f) => f.endsWith('.ops')).sort()) {
    const name = f.slice(0, -4);
    const t = join(dir, traces, `${name}.jsonl`);
    if (!existsSync(t)) continue;
    const expected = readFileSync(t, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        delete o.scenario;
        return JSON.stringify(o);
      });
    out.push({ name, script: join(sdir, f), expected });
  }
  return out;
}

/**
 * The trace sets of one kernel profile: the public soft-dirty traces, the oracle's, and the public
 * userfaultfd / PAGEMAP_SCAN examples (../shared/kernel-traces/uffd).
 */
export function traceSets(kernel: '6.1' | '6.12'): { label: string; traces: Trace[] }[] {
  const pub = join(ROOT, 'fixtures', 'kernel-traces');
  return [
    { label: `public ${kernel}`, traces: loadTraces(pub, kernel === '6.1' ? 'traces' : 'traces-6.12') },
    { label: `oracle ${kernel}`, traces: loadTraces(join(ROOT, 'fixtures', 'oracle', kernel)) },
    { label: `public uffd ${kernel}`, traces: loadTraces(join(pub, 'uffd'), `traces-${kernel}`) },
  ];
}

export interface Comparison {
  exact: boolean;
  /** Observations equal at the same position. */
  same: number;
  /** Observations in the recorded trace. */
  total: number;
  /** First differing position, or -1. */
  firstDiff: number;
  got: string[];
}

export function compareTrace(t: Trace, kernel: KernelProfileName): Comparison {
  const got = scriptObservations(t.script, { kernel }).map((o) => JSON.stringify(o));
  let same = 0;
  let firstDiff = -1;
  for (let i = 0; i < t.expected.length; i++) {
    if (got[i] === t.expected[i]) same++;
    else if (firstDiff < 0) firstDiff = i;
  }
  if (firstDiff < 0 && got.length !== t.expected.length) firstDiff = t.expected.length;
  return { exact: firstDiff < 0, same, total: t.expected.length, firstDiff, got };
}
