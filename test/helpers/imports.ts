/**
 * Every import of a TypeScript source file, value and type alike: `import … from`, `import type`,
 * `import('…')`, `export … from`, side-effect imports, and workers started from a file
 * (`new URL('./x.js', import.meta.url)`). Comments are removed first, strings are not parsed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

export interface ImportEdge {
  from: string;
  to: string;
  kind: 'import' | 'import type' | 'export from' | 'dynamic' | 'worker';
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const PATTERNS: [ImportEdge['kind'], RegExp][] = [
  ['import type', /(?:^|[;}\s])import\s+type\s+[^;'"]*?\sfrom\s*['"]([^'"]+)['"]/gm],
  ['import', /(?:^|[;}\s])import\s+(?!type\s)(?:[^;'"()]*?\sfrom\s*)?['"]([^'"]+)['"]/gm],
  ['export from', /(?:^|[;}\s])export\s+(?:type\s+)?(?:\*|\*\s+as\s+\w+|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/gm],
  ['dynamic', /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g],
  ['worker', /new\s+URL\(\s*['"](\.[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g],
];

/** The relative imports of every .ts file under `root`, as paths relative to it ('criu/x.ts'). */
export function importGraph(root: string): { files: string[]; edges: ImportEdge[] } {
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).sort();
  const edges: ImportEdge[] = [];
  for (const f of files) {
    const text = stripComments(readFileSync(join(root, f), 'utf8'));
    for (const [kind, re] of PATTERNS) {
      for (const m of text.matchAll(re)) {
        const spec = m[1];
        if (!spec.startsWith('.')) continue;
        // Workers may name non-code files (package.json read through a URL): only .js is code.
        if (kind === 'worker' && !spec.endsWith('.js')) continue;
        edges.push({ from: f, to: normalize(join(dirname(f), spec.replace(/\.js$/, '.ts'))), kind });
      }
    }
  }
  return { files, edges };
}

/**
 * The strongly connected components of more than one node (Tarjan): each is a set of files that
 * import one another in a cycle. Empty: the graph is acyclic.
 */
export function cycles(nodes: string[], edges: { from: string; to: string }[]): string[][] {
  const out = new Map<string, string[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  let next = 0;
  const connect = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of out.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc.sort());
    }
  };
  for (const n of nodes) if (!index.has(n)) connect(n);
  return sccs.sort((a, b) => a[0].localeCompare(b[0]));
}
