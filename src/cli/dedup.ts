/** `tracker dedup DIR`: release, in an existing chain, every parent page a later iteration dumped again. */
import type { Command } from 'commander';
import { dedupChain, type DedupReport } from '../criu/dedup.js';
import { resolveIterationDir } from '../criu/stats.js';
import { EXIT_CODES_HELP } from './help.js';
import { processOutput, toJson } from './output.js';

function render(r: DedupReport): string {
  if (r.pages_released === 0) return 'nothing to release: no parent holds a page a later iteration dumped again';
  const lines = r.released.map((x) => `  ${x.dir}: ${x.pages} pages released`);
  lines.unshift(`released ${r.pages_released} pages (${((r.pages_released * 4096) / 1024 ** 2).toFixed(1)} MiB) in ${r.released.length} parent image${r.released.length === 1 ? '' : 's'}:`);
  return lines.join('\n');
}

export function registerDedupCommand(program: Command): void {
  program
    .command('dedup')
    .description("as CRIU's dedup: in a chain, give back the disk blocks of every parent page that a later iteration dumped again (a hole in the parent's pages.img); restore is unchanged")
    .argument('<dir>', 'the images directory (its last iteration) or an iteration DIR/N')
    .option('--json', 'print the report as JSON', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((dir: string, opts: { json: boolean }) => {
      const out = processOutput(opts.json);
      const r = dedupChain(resolveIterationDir(dir));
      out.out(opts.json ? toJson(r) : render(r));
    });
}
