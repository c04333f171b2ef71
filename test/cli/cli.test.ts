/**
 * The command line: exit codes and one-line errors, --version and --help, colour and terminals,
 * workloads recognised by content. Commands run in-process where the process is not under test
 * (test/helpers/cli.ts); one test runs a few both ways and compares.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { EXIT_CODES, EXIT_CODES_HELP } from '../../src/cli/help.js';
import { exitCodeFor } from '../../src/cli/main.js';
import { spinnerAllowed, type Output } from '../../src/cli/output.js';
import { runCommand, sparkline } from '../../src/cli/run.js';
import { listWorkloads } from '../../src/workload/index.js';
import { ROOT } from '../helpers/root.js';
import { trackerAsync, type CliResult } from '../helpers/cli.js';
import { startTracker, TRACKER_BIN, tracker } from '../helpers/spawn.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '256K' } }));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

function capture(json: boolean): Output & { text: string } {
  const o = { json, isTTY: false, text: '', out: (s: string) => void (o.text += s + '\n'), err: (s: string) => void (o.text += s + '\n') };
  return o;
}

test('tracker run --json: measured after setup and populate, dirty pages per interval settle near the hot set', () => {
  const out = capture(true);
  runCommand({ workload: model, seed: 1, steps: 40_000, duration: { steps: 40_000 }, sampleInterval: { steps: 10_000 }, kernel: '6.1', json: true }, out);
  const report = JSON.parse(out.text) as { samples: { dirty_pages: number }[]; dirty_tracking: boolean; warm_up_steps: number; dirty_rate_mib_per_s: number };
  assert.equal(report.dirty_tracking, true);
  assert.equal(report.samples.length, 4);
  assert.equal(report.warm_up_steps, 1025, 'mmap and the populate of the 4 MiB heap run before measuring');
  for (const s of report.samples) assert.ok(s.dirty_pages >= 64 && s.dirty_pages < 200, `${s.dirty_pages} dirty pages (hot set 64)`);
  assert.ok(report.dirty_rate_mib_per_s > 0, `${report.dirty_rate_mib_per_s} MiB/s`);
});

test('tracker run prints a table and a sparkline of dirty pages', () => {
  const out = capture(false);
  runCommand({ workload: model, seed: 1, steps: 40_000, duration: { steps: 40_000 }, sampleInterval: { steps: 10_000 }, kernel: '6.1', json: false }, out);
  assert.match(out.text, /dirty pages per interval +\S*█/);
});

test('sparkline scales to the largest value and leaves gaps for missing ones', () => {
  assert.equal(sparkline([0, 4, 8, null]), '▁▅█ ');
});

test('tracker workloads --json lists every built-in model with its parameters', async () => {
  const r = await trackerAsync(['workloads', '--json']);
  assert.equal(r.status, 0);
  const list = JSON.parse(r.stdout) as { name: string; params: unknown[] }[];
  assert.deepEqual(list.map((w) => w.name), listWorkloads().map((w) => w.name));
  assert.deepEqual(list.map((w) => w.name), ['hot-cold', 'uniform', 'sequential', 'idle', 'churn', 'fork-cow', 'thp', 'swap', 'guest', 'curve']);
  assert.ok(list.every((w) => w.params.length > 0));
});

test('tracker --version prints the package version (bin/tracker.js, and -V in-process)', async () => {
  for (const r of [tracker(['--version']), await trackerAsync(['-V'])]) {
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${PKG.version}\n`);
    assert.equal(r.stderr, '');
  }
});

test('in-process runs print and exit as bin/tracker.js does: a usage error, a missing path, a success, --help', async () => {
  // The tests below run most commands in-process (test/helpers/cli.ts); these cases run both ways.
  const cases = [['dump', '--bogus'], ['stats', join(tmp, 'nope')], ['run', '--workload', model, '--steps', '2000', '--sample-interval', '1000', '--json'], ['compare', '--help']];
  const real = await Promise.all(cases.map((args) => startTracker(args).done));
  for (const [i, args] of cases.entries()) {
    const mine: CliResult = await trackerAsync(args);
    assert.deepEqual({ status: mine.status, stdout: mine.stdout, stderr: mine.stderr }, { status: real[i].status, stdout: real[i].stdout, stderr: real[i].stderr }, args.join(' '));
  }
  assert.deepEqual(real.map((r) => r.status), [2, 2, 0, 0]);
});

test('one exit-code table: in --help of every command and in the README, with 70 and 130', async () => {
  const cmds = ['', 'dump', 'pre-dump', 'restore', 'check', 'run', 'show', 'stats', 'compare', 'script'];
  const runs = await Promise.all(cmds.map((c) => trackerAsync(c === '' ? ['--help'] : [c, '--help'])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.status, 0, cmds[i]);
    assert.ok(r.stdout.includes(EXIT_CODES_HELP.trim()), `--help of '${cmds[i]}' has the table`);
  }
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [code, what] of EXIT_CODES) assert.ok(readme.includes(`| ${code} | ${what} |`), `README lists exit ${code}: ${what}`);
  assert.deepEqual(EXIT_CODES.map(([c]) => c), [0, 1, 2, 3, 4, 5, 70, 130, 141]);
});

test('bad flags and values are one-line usage errors with exit 2', async () => {
  const cases = [['run', '--steps', 'abc'], ['dump', '--bogus'], ['dump', '--iterative', '--kernel', '5.0'], ['dump', '--iterative', '--bandwidth', '-1G'], ['run', '--workload', 'nope'], ['dump', '--iterative', '--leave-running']];
  const runs = await Promise.all(cases.map((args) => trackerAsync(args)));
  for (const [i, r] of runs.entries()) {
    const what = cases[i].join(' ');
    assert.equal(r.status, 2, what);
    assert.match(r.stderr, /^tracker: [^\n]+\n(\(run with --help for usage\)\n)?$/, what);
    assert.equal(r.stdout, '', what);
  }
});

test('a missing path is exit 2 for every command that reads images; so is an empty directory', async () => {
  const missing = join(tmp, 'nope');
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const cases: [string[], string][] = [
    [['show', missing], `tracker: ${missing}: no such file or directory\n`],
    [['stats', missing], `tracker: ${missing}: no such file or directory\n`],
    [['restore', '-D', missing], `tracker: ${missing}: no such file or directory\n`],
    [['check', missing], `tracker: ${missing}: no such file or directory\n`],
    [['compare', missing, empty], `tracker: base ${missing}: no such file or directory\n`],
    [['compare', missing.replace('nope', ''), empty], `tracker: base ${missing.replace('nope', '')} holds no images (no inventory.img and no numbered iteration directories); give an images directory\n`],
    [['show', empty], `tracker: ${empty} is empty: it holds no images\n`],
    [['stats', empty], `tracker: ${empty} is empty: it holds no images\n`],
    [['restore', '-D', empty], `tracker: ${empty} is empty: it holds no images\n`],
    [['check', empty], `tracker: ${empty} is empty: it holds no images\n`],
  ];
  const runs = await Promise.all(cases.map(([args]) => trackerAsync(args)));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.status, 2, cases[i][0].join(' '));
    assert.equal(r.stderr, cases[i][1]);
  }
});

test('an images directory that cannot be created is a one-line error, exit 2', async () => {
  const r = await trackerAsync(['dump', '--iterative', '-D', '/etc/passwd/images']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'tracker: cannot create images directory /etc/passwd/images: a path component is not a directory (ENOTDIR); choose another -D\n');
});

test('an internal error is exit 70 with the stack; an OS error exit 5; a TrackerError its own code', () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => written.push(s) > 0) as typeof process.stderr.write;
  try {
    assert.equal(exitCodeFor(new TypeError('x is undefined')), 70);
    assert.equal(exitCodeFor(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })), 5);
  } finally {
    process.stderr.write = write;
  }
  assert.match(written[0], /^tracker: internal error \(a bug in tracker; please report it with the command\): TypeError: x is undefined\n    at /);
  assert.equal(written[1], 'tracker: EIO: i/o error, read\n');
});

// ---- terminals and colour ------------------------------------------------------------------------

test('the spinner runs only on a terminal with a width, outside CI', () => {
  const tty = (columns: number | undefined) => ({ isTTY: true, columns }) as unknown as NodeJS.WriteStream;
  assert.equal(spinnerAllowed(tty(80), {}), true);
  assert.equal(spinnerAllowed(tty(0), {}), false, '0 columns: ora would clear lines forever');
  assert.equal(spinnerAllowed(tty(undefined), {}), false);
  assert.equal(spinnerAllowed(tty(80), { CI: 'true' }), false);
  assert.equal(spinnerAllowed(tty(80), { TERM: 'dumb' }), false);
  assert.equal(spinnerAllowed({ isTTY: false, columns: 80 } as unknown as NodeJS.WriteStream, {}), false);
});

const noScript = spawnSync('script', ['--version']).status !== 0 ? 'util-linux script(1) is not installed' : false;

/** Run tracker on a pseudo-terminal (script(1)): 0 columns unless `cols` is given. */
function onPty(args: string[], env: Record<string, string | undefined>, cols?: number) {
  const cmd = `${cols !== undefined ? `stty cols ${cols}; ` : ''}exec ${process.execPath} ${TRACKER_BIN} ${args.join(' ')}`;
  const e: NodeJS.ProcessEnv = { ...process.env, CI: undefined, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: e, timeout: 30_000, maxBuffer: 1 << 20 });
}

test('a 0-column terminal: no spinner, the dump finishes with bounded output', { skip: noScript }, () => {
  const d = join(tmp, 'pty0');
  const r = onPty(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '3', '--interval', '4000'], {});
  assert.equal(r.status, 0, r.stdout);
  assert.ok(r.stdout.length < 4000, `${r.stdout.length} bytes`);
  assert.doesNotMatch(r.stdout, /⠋/);
  assert.match(r.stdout, /dump +3: scanned 1024 pages/);
});

test('NO_COLOR turns colour off on a terminal; FORCE_COLOR wins over it and over a pipe', { skip: noScript }, async () => {
  const d = join(tmp, 'colour');
  const dumped = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '2', '--interval', '4000']);
  assert.equal(dumped.status, 0, dumped.stderr);
  const esc = /\x1b\[/;
  assert.match(onPty(['stats', d], {}, 80).stdout, esc, 'a terminal gets colour');
  assert.doesNotMatch(onPty(['stats', d], { NO_COLOR: '1' }, 80).stdout, esc);
  assert.match(onPty(['stats', d], { NO_COLOR: '1', FORCE_COLOR: '1' }, 80).stdout, esc);
  assert.doesNotMatch(tracker(['stats', d]).stdout, esc, 'a pipe gets none');
  assert.match(tracker(['stats', d], { env: { FORCE_COLOR: '1' } }).stdout, esc);
});

// ---- workloads recognised by content -------------------------------------------------------------

test('a Lackey trace is recognised by its content whatever its name; garbage or a bad line is refused with file and line', async () => {
  const log = join(tmp, 'valgrind.log');
  const trace = gunzipSync(readFileSync(join(ROOT, 'fixtures', 'traces', 'hotcold.lackey.gz'))).toString('latin1');
  writeFileSync(log, trace);
  const garbage = join(tmp, 'x.lackey');
  writeFileSync(garbage, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 251)));
  const mixed = join(tmp, 'mixed.txt');
  const lines = trace.split('\n');
  writeFileSync(mixed, [...lines.slice(0, 100), 'hello from the program', ...lines.slice(100, 200)].join('\n'));
  const banner = join(tmp, 'banner.lackey');
  writeFileSync(banner, '==1== Lackey, an example Valgrind tool\n==1==\n');
  const runs = await Promise.all([log, garbage, mixed, banner].map((f) => trackerAsync(['run', '--workload', f, '--steps', '1000', '--sample-interval', '500', '--json'])));
  assert.equal(runs[0].status, 0, runs[0].stderr);
  assert.equal((JSON.parse(runs[0].stdout) as { workload: { model: string } }).workload.model, 'lackey');
  assert.equal(runs[1].status, 2);
  assert.match(runs[1].stderr, new RegExp(`^tracker: ${garbage}:1: not a Lackey trace record: '[^\\n]*' \\(expected I, L, S or M lines from valgrind --tool=lackey --trace-mem=yes\\)\\n$`));
  assert.equal(runs[2].status, 2);
  assert.equal(runs[2].stderr, `tracker: ${mixed}:101: not a Lackey trace record: 'hello from the program' (expected I, L, S or M lines from valgrind --tool=lackey --trace-mem=yes)\n`);
  assert.equal(runs[3].status, 2);
  assert.equal(runs[3].stderr, `tracker: ${banner}: not a Lackey trace: no trace record (I, L, S or M lines from valgrind --tool=lackey --trace-mem=yes)\n`);
});
