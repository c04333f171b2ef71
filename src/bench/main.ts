/**
 * `npm run bench`: one JSON object of figures, each beside its yardsticks from the same
 * alternating rounds (rounds.ts). `npm run bench -- --help` for the options; `--table FILE`
 * turns a saved JSON into the README's table (table.ts).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchCheckpoint, benchSparse } from './checkpoint-bench.js';
import { benchMmu, benchUniform, benchWriteHit } from './mmu-bench.js';
import { benchCompression, benchLoopback } from './transfer-bench.js';
import { benchWorkloads } from './workload-bench.js';
import { benchScale } from './scale-bench.js';
import { benchTable, updateReadme } from './table.js';

const SECTIONS = ['mmu', 'workload', 'checkpoint', 'sparse', 'transfer', 'scale'] as const;
/** scale plans guests up to 1 TiB in fresh processes (minutes): only when named. */
const DEFAULT_SECTIONS: readonly string[] = ['mmu', 'workload', 'checkpoint', 'sparse', 'transfer'];
type Section = (typeof SECTIONS)[number];

const HELP = `usage: npm run bench -- [SECTION...] [--rounds N] [--out FILE]
       npm run bench -- --table FILE [--readme README.md]

Sections (default: all but scale): ${SECTIONS.join(', ')}
  mmu         uniform writer over 1 GiB vs the same accesses on a Uint8Array; store8 hits vs a raw
              loop; fault, clear_refs and pagemap rates
  workload    steps/s of the default model, Lackey trace replay
  checkpoint  1 GiB dump vs a minimal Node writer and dd; digest vs SHA-256 and BLAKE3 of the same bytes;
              restore vs a minimal Node reader (new buffers), warm restore vs a warm reader and dd
  sparse      a 4 TiB sparse mapping dumped and restored, vs a 4-page one
  transfer    page server over loopback vs a local write and a bare Node socket pair; LZ4 codec
  scale       tracker plan of guest models of 8, 64, 256 GiB and 1 TiB: wall time and peak RSS each
Each section runs in a node process of its own.
--rounds N    alternating rounds per figure (default 5)
--out FILE    also write the JSON to FILE
--table FILE  print the README's benchmark table from a JSON written by an earlier run
--readme F    with --table: replace the table between the bench-table markers in F
`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let rounds = 5;
  let out: string | null = null;
  let table: string | null = null;
  let readme: string | null = null;
  const chosen: Section[] = [];
  let child = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      return;
    } else if (a === '--rounds') rounds = Number(args[++i]);
    else if (a === '--out') out = args[++i];
    else if (a === '--table') table = args[++i];
    else if (a === '--readme') readme = args[++i];
    else if (a === '--section-child') child = true;
    else if ((SECTIONS as readonly string[]).includes(a)) chosen.push(a as Section);
    else {
      process.stderr.write(`bench: unknown argument '${a}'\n${HELP}`);
      process.exitCode = 2;
      return;
    }
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('bench: --rounds takes a whole number of at least 1\n');
    process.exitCode = 2;
    return;
  }
  if (table !== null) {
    const json = JSON.parse(readFileSync(table, 'utf8')) as Record<string, unknown>;
    if (readme !== null) updateReadme(readme, json);
    else process.stdout.write(benchTable(json) + '\n');
    return;
  }
  if (child) {
    if (chosen.length !== 1) throw new Error('bench: --section-child takes exactly one section');
    // One section, in a process of its own: its figures as JSON on stdout.
    process.stdout.write(JSON.stringify(await runSection(chosen[0], rounds)));
    return;
  }
  const want = (s: Section) => (chosen.length === 0 ? DEFAULT_SECTIONS.includes(s) : chosen.includes(s));
  const t0 = Date.now();
  const result: Record<string, unknown> = { node: process.version, date: new Date().toISOString(), rounds, loadavg_before: loadavg().map((x) => +x.toFixed(2)) };
  // Each section in a fresh node process: none inherits another's heap, freed memory or JIT state.
  // In one process, the page server's ratio to a local write came out 0.69-0.91x at median in four
  // runs after the sections before it, and 0.85-0.87x in two runs of its section alone.
  for (const section of SECTIONS) {
    if (!want(section)) continue;
    process.stderr.write(`bench: ${section} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), section, '--rounds', String(rounds), '--section-child'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`bench: section ${section} failed (exit ${r.status ?? r.signal})`);
    Object.assign(result, JSON.parse(r.stdout) as Record<string, unknown>);
  }
  result.loadavg_after = loadavg().map((x) => +x.toFixed(2));
  result.seconds = Math.round((Date.now() - t0) / 1000);
  const text = JSON.stringify(result, null, 2) + '\n';
  if (out !== null) writeFileSync(out, text);
  process.stdout.write(text);
}

/** The figures of one section. */
async function runSection(section: Section, rounds: number): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  switch (section) {
    case 'mmu':
      // benchMmu first: its RSS figure is a difference, which memory freed by the others would skew.
      Object.assign(result, benchMmu());
      result.uniform = benchUniform(rounds);
      result.write_hit = benchWriteHit(rounds);
      break;
    case 'workload':
      Object.assign(result, benchWorkloads());
      break;
    case 'checkpoint':
      Object.assign(result, benchCheckpoint(rounds));
      break;
    case 'sparse':
      Object.assign(result, benchSparse());
      break;
    case 'transfer':
      result.page_server = await benchLoopback(rounds);
      result.compression = benchCompression();
      break;
    case 'scale':
      Object.assign(result, benchScale());
      break;
  }
  return result;
}

await main();
