/**
 * The README's examples, made by running the commands today. The examples of `tracker stats`,
 * `show --rss`, `show --pages` and `compare` need images made first: each sits between
 * `<!-- readme-example:NAME -->` and `<!-- /readme-example -->`. Any other fenced block between
 * `<!-- readme-run -->` (or `<!-- readme-run cut=N -->`: N lines of each output, then `...`) and
 * `<!-- /readme-run -->` holds `$ npx tracker ARGS` lines, each followed by what it prints
 * (stdout, then stderr). test/cli/readme.test.ts regenerates both and fails when the README
 * differs, so they cannot go stale. The commands run in-process (test/helpers/cli.ts: main()'s
 * parsing, output and exit codes), in a scratch folder, with the environment of PLAIN.
 *
 *   npm run build && node dist/test/readme-examples.js --write    # rewrite README.md
 *   node dist/test/readme-examples.js --picture                    # fixtures/report/plan-report.png
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from './helpers/chromium.js';
import { ROOT } from './helpers/root.js';
import { trackerAsync } from './helpers/cli.js';

export const README = join(ROOT, 'README.md');
const PLAIN = { NO_COLOR: '1', FORCE_COLOR: undefined, COLUMNS: undefined, CI: '1' };

/** The base and head workload files of the CI example: hot-cold whose hot set grew 8 MiB -> 16 MiB. */
const SIDES = { base: { model: 'hot-cold', params: { hotSet: '8M' } }, head: { model: 'hot-cold', params: { hotSet: '16M' } } };
const DUMP = ['--policy', 'fixed', '--iterations', '3', '--interval', '20000', '--seed', '1'];

async function run(cwd: string, args: string[], expect = 0): Promise<{ stdout: string; stderr: string }> {
  const r = await trackerAsync(args, { cwd, env: PLAIN });
  if (r.status !== expect) throw new Error(`tracker ${args.join(' ')}: exit ${r.status}, expected ${expect}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Every example, by name, as the README holds it between its markers. */
export async function generateExamples(): Promise<Record<string, string>> {
  // A fixed folder (not $TMPDIR): the workload's path is in inventory.img, whose size the example shows.
  const cwd = mkdtempSync('/tmp/tracker-readme-');
  try {
    for (const [side, spec] of Object.entries(SIDES)) {
      mkdirSync(join(cwd, side));
      writeFileSync(join(cwd, side, 'service.json'), JSON.stringify(spec));
      await run(cwd, ['dump', '--iterative', '--workload', `${side}/service.json`, '-D', `${side}/images`, ...DUMP, '--json']);
    }
    const stats = (await run(cwd, ['stats', 'base/images'])).stdout;
    const rss = (await run(cwd, ['show', 'base/images/3', '--rss'])).stdout;
    // The first page's hexdump, cut after its first rows.
    const pages = (await run(cwd, ['show', 'base/images/3', '--pages', '0x100000000000'])).stdout.split('\n').slice(0, 5).join('\n');
    const cmp = await run(cwd, ['compare', 'base/images', 'head/images', '--max-increase', '5%', '--max-final-increase', '10%', '--format', 'markdown'], 1);
    const console = ['```console', '$ tracker stats base/images', stats.trimEnd(), '', '$ tracker show base/images/3 --rss', rss.trimEnd(), '', '$ tracker show base/images/3 --pages 0x100000000000', pages, '...', '```'].join('\n');
    const compare = [cmp.stdout.trimEnd(), '', 'and on stderr, with exit code 1:', '', '```', cmp.stderr.trimEnd(), '```'].join('\n');
    return { inspect: console, compare };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

const MARK = /(<!-- readme-example:([a-z-]+) -->\n)([\s\S]*?)(\n<!-- \/readme-example -->)/g;

/** The examples the README holds now. */
export function readmeExamples(text = readFileSync(README, 'utf8')): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(MARK)) out[m[2]] = m[3];
  return out;
}

export function withExamples(text: string, examples: Record<string, string>): string {
  return text.replace(MARK, (all, open: string, name: string, _old: string, close: string) => (name in examples ? open + examples[name] + close : all));
}

const RUN = /(<!-- readme-run(?: cut=(\d+))? -->\n```[a-z]*\n)([\s\S]*?)(\n```\n<!-- \/readme-run -->)/g;
const COMMAND = /^\$ (?:npx )?tracker (.*)$/;

/** Split a command line as a shell would, for the plain words and single quotes the README uses. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** One readme-run block's body: each command, then what it prints today. */
async function runBlock(body: string, cut: number | null): Promise<string> {
  const out: string[] = [];
  const cwd = mkdtempSync('/tmp/tracker-readme-');
  try {
    for (const line of body.split('\n')) {
      const m = COMMAND.exec(line);
      if (m === null) continue;
      const r = await trackerAsync(words(m[1]), { cwd, env: PLAIN });
      const printed = (r.stdout + r.stderr).trimEnd().split('\n');
      out.push(line, ...(cut !== null && printed.length > cut ? [...printed.slice(0, cut), '...'] : printed));
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
  return out.join('\n');
}

/** The readme-run blocks as the README holds them, and as the commands print them today. */
export async function readmeRuns(text = readFileSync(README, 'utf8')): Promise<{ now: string[]; fresh: string[] }> {
  const now: string[] = [];
  const fresh: string[] = [];
  for (const m of text.matchAll(RUN)) {
    now.push(m[3]);
    fresh.push(await runBlock(m[3], m[2] === undefined ? null : Number(m[2])));
  }
  return { now, fresh };
}

export async function withRuns(text: string): Promise<string> {
  const blocks = (await readmeRuns(text)).fresh;
  let i = 0;
  return text.replace(RUN, (_all, open: string, _cut: string | undefined, _body: string, close: string) => open + blocks[i++] + close);
}

if (process.argv.includes('--write')) {
  writeFileSync(README, await withRuns(withExamples(readFileSync(README, 'utf8'), await generateExamples())));
  process.stdout.write('README.md examples regenerated\n');
}

/** The README's picture: the worked example's plan with --report, rendered by headless Chromium. */
export const PICTURE_PLAN = ['plan', '--workload', 'hot-cold', '--bandwidth', '100Mbit,1Gbit,10Gbit', '--policy', 'phaul,qemu'];

async function picture(): Promise<void> {
  const cwd = mkdtempSync('/tmp/tracker-readme-');
  try {
    await run(cwd, [...PICTURE_PLAN, '--report', 'plan.html']);
    const png = join(cwd, 'plan-report.png');
    const r = chromium(cwd, ['--window-size=1200,1800', '--hide-scrollbars', `--screenshot=${png}`, `file://${join(cwd, 'plan.html')}`]);
    if (r.status !== 0) throw new Error(`chromium: exit ${r.status}: ${r.stderr}`);
    copyFileSync(png, join(ROOT, 'fixtures', 'report', 'plan-report.png'));
    process.stdout.write('fixtures/report/plan-report.png regenerated\n');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

if (process.argv.includes('--picture')) await picture();
