/**
 * `npm run bench`: one JSON object of figures, each beside its yardsticks from the same
 * alternating rounds (rounds.ts). `npm run bench -- --help` for the options; `--table FILE`
 * turns a saved JSON into the README's table (table.ts).
 */
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
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
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      return;
    } else if (a === '--rounds') rounds = Number(args[++i]);
    else if (a === '--out') out = args[++i];
    else if (a === '--table') table = args[++i];
    else if (a === '--readme') readme = args[++i];
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
  const want = (s: Section) => (chosen.length === 0 ? DEFAULT_SECTIONS.includes(s) : chosen.includes(s));
  const t0 = Date.now();
  const result: Record<string, unknown> = { node: process.version, date: new Date().toISOString(), rounds, loadavg_before: loadavg().map((x) => +x.toFixed(2)) };
  const step = (name: string) => process.stderr.write(`bench: ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  if (want('mmu')) {
    step('mmu');
    // benchMmu first: its RSS figure is a difference, which memory freed by the others would skew.
    Object.assign(result, benchMmu());
    result.uniform = benchUniform(rounds);
    result.write_hit = benchWriteHit(rounds);
  }
  if (want('workload')) {
    step('workload');
    Object.assign(result, benchWorkloads());
  }
  if (want('checkpoint')) {
    step('checkpoint');
    Object.assign(result, benchCheckpoint(rounds));
  }
  if (want('sparse')) {
    step('sparse');
    Object.assign(result, benchSparse());
  }
  if (want('transfer')) {
    step('transfer');
    result.page_server = await benchLoopback(rounds);
    result.compression = benchCompression();
  }
  if (want('scale')) {
    step('scale');
    Object.assign(result, benchScale());
  }
  result.loadavg_after = loadavg().map((x) => +x.toFixed(2));
  result.seconds = Math.round((Date.now() - t0) / 1000);
  const text = JSON.stringify(result, null, 2) + '\n';
  if (out !== null) writeFileSync(out, text);
  process.stdout.write(text);
}

await main();
