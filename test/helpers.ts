import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/). */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** Scenario directories: the committed copy, and ../shared/kernel-traces when it is there. */
export function traceDirs(): string[] {
  const dirs = [join(ROOT, 'fixtures', 'kernel-traces')];
  const shared = resolve(ROOT, '..', 'shared', 'kernel-traces');
  if (existsSync(join(shared, 'scenarios'))) dirs.push(shared);
  return dirs;
}

export interface TraceCase {
  name: string;
  script: string;
  expected: string[];
}

export function traceCases(): TraceCase[] {
  const seen = new Map<string, TraceCase>();
  for (const dir of traceDirs()) {
    for (const f of readdirSync(join(dir, 'scenarios')).filter((f) => f.endsWith('.ops')).sort()) {
      const name = f.replace(/\.ops$/, '');
      const trace = join(dir, 'traces', `${name}.jsonl`);
      if (!existsSync(trace)) continue;
      const expected = readFileSync(trace, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const o = JSON.parse(l) as Record<string, unknown>;
          delete o.scenario;
          return JSON.stringify(o);
        });
      seen.set(name, { name, script: join(dir, 'scenarios', f), expected });
    }
  }
  return [...seen.values()];
}
