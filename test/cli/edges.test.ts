/**
 * The edges a new user hits (issue 20): closed and full stdout, signals in long transfers, reports
 * onto bad destinations, bad TLS input, oversized inputs, exit codes, escaped paths. A real process
 * and a real signal, pipe, terminal or /dev/full where the process is what is tested; the other
 * commands run in-process (trackerAsync: the same parsing and exit-code mapping); tiny heaps
 * throughout.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../helpers/root.js';
import * as net from 'node:net';
import { startPageServer } from '../../src/criu/page-server.js';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_DUMP_OPTIONS, iterativeDump } from '../../src/migrate/iterative.js';
import type { PlanReport, PlanRow } from '../../src/migrate/plan.js';
import { renderPlan } from '../../src/cli/plan.js';
import { trackerAsync } from '../helpers/cli.js';
import { startTracker, TRACKER_BIN, waitForOutput } from '../helpers/spawn.js';
import { cannotMountTmpfs } from '../helpers/tmpfs.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-edges-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '256K' } }));

/** Run `tracker ARGS | head -1` with a real pipe: the reader exits after its first line. */
function throughHead(args: string[]): Promise<{ status: number | null; stderr: string; first: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TRACKER_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const onData = (b: Buffer) => {
      first += b.toString();
      if (first.includes('\n')) {
        child.stdout.off('data', onData);
        child.stdout.destroy(); // as head(1) exiting: the next write gets EPIPE
      }
    };
    child.stdout.on('data', onData);
    child.on('close', (status) => resolve({ status, stderr, first: first.split('\n')[0] }));
  });
}

test('2. dump --iterative | head -1: the dump stops at a safe point, no lock or .N.tmp left, exit 141 with one line', async () => {
  const d = join(tmp, 'head');
  const r = await throughHead(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '40', '--interval', '20000']);
  assert.match(r.first, /^pre-dump +1:/);
  assert.equal(r.status, 141, r.stderr);
  assert.match(r.stderr, /^tracker: standard output was closed before tracker finished \(EPIPE\): the dump stopped: interrupted in iteration \d+; (iteration 1 is|iterations 1-\d+ are) intact\n$/);
  const left = readdirSync(d);
  assert.ok(left.length < 40, 'it stopped early');
  assert.ok(left.every((e) => /^\d+$/.test(e)), `no lock, no .N.tmp: ${left.join(' ')}`);
});

test('2. a command whose reader went away before it printed exits 141 with one line, not 0', async () => {
  for (const args of [['workloads'], ['run', '--workload', model, '--duration', '400', '--sample-interval', '100']]) {
    const child = spawn(process.execPath, [TRACKER_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first write
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const status = await new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    assert.equal(status, 141, `${args[0]}: ${stderr}`);
    assert.equal(stderr, 'tracker: standard output was closed before tracker finished (EPIPE): what tracker printed was cut short\n');
  }
});

test('4. writing to /dev/full: exit 5 and one line, for compare, dump --json, workloads and stats', { skip: !existsSync('/dev/full') }, async () => {
  const d = join(tmp, 'full');
  assert.equal((await trackerAsync(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '2', '--interval', '2000'])).status, 0);
  const line = 'tracker: cannot write to standard output: no space left on device (ENOSPC); redirect it elsewhere; what tracker printed was cut short\n';
  for (const args of [
    ['compare', d, d, '--format', 'json', '--max-increase', '5'],
    ['dump', '--iterative', '--workload', model, '-D', join(tmp, 'full2'), '--policy', 'fixed', '--iterations', '2', '--json'],
    ['workloads'],
    ['stats', d],
  ]) {
    const r = spawnToDevFull(args);
    assert.equal(r.status, 5, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stderr, line, args[0]);
  }
});

function spawnToDevFull(args: string[]): { status: number | null; stderr: string } {
  const fd = openSync('/dev/full', 'w');
  try {
    const r = spawnSync(process.execPath, [TRACKER_BIN, ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

test('3. --report into a missing folder fails before the dump, exit 2, nothing written', async () => {
  const d = join(tmp, 'report-missing');
  const t0 = Date.now();
  const r = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', d, '--report', join(tmp, 'nope', 'r.html')]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, `tracker: --report ${join(tmp, 'nope', 'r.html')}: the folder ${join(tmp, 'nope')} does not exist; create it or choose another --report path\n`);
  assert.equal(existsSync(d), false, 'no dump was made');
  assert.ok(Date.now() - t0 < 5000);
  const p = await trackerAsync(['plan', '--workload', model, '--report', join(tmp, 'nope', 'p.html')]);
  assert.equal(p.status, 2, p.stderr);
});

const canMount = cannotMountTmpfs(tmp);

test('3. --report onto a nearly full disk: exit 5, one line, no truncated page and no temporary file', { skip: canMount }, async () => {
  const mnt = mkdtempSync(join(tmp, 'tmpfs-'));
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).status, 0);
  try {
    // Leave 8 KiB: the report (a few tens of KiB) starts to be written, then the disk is full.
    const fs = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 8192));
    const file = join(mnt, 'r.html');
    const r = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', join(tmp, 'report-full'), '--policy', 'fixed', '--iterations', '2', '--report', file]);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stderr, `tracker: cannot write the report ${file}: no space left on device (ENOSPC); free some space or choose another --report path\n`);
    assert.deepEqual(readdirSync(mnt), ['filler']);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('6. page-server --tls with a garbage certificate or key, or a key of another certificate: exit 2 naming the file, no -D made', { timeout: 60_000 }, async () => {
  const g = join(tmp, 'garbage.pem');
  writeFileSync(g, 'garbage\n');
  const tlsDir = join(ROOT, 'fixtures', 'tls');
  const d = join(tmp, 'tls-d');
  const cases: [string[], RegExp][] = [
    [['--tls-cert', g, '--tls-key', g], /^tracker: --tls-cert \S+garbage\.pem: not a PEM certificate that TLS can use \([^)]+\); give the PEM certificate file\n$/],
    [['--tls-cert', join(tlsDir, 'server.pem'), '--tls-key', g], /^tracker: --tls-key \S+garbage\.pem: not a PEM private key that TLS can use \([^)]+\); give the PEM private key file\n$/],
    [['--tls-cert', join(tlsDir, 'ca.pem'), '--tls-key', join(tlsDir, 'server.key')], /^tracker: --tls-key \S+server\.key: the key does not belong to the certificate \(--tls-cert \S+ca\.pem\); give the key the certificate was made for\n$/],
  ];
  for (const [flags, re] of cases) {
    const r = await trackerAsync(['page-server', '-D', d, '--port', '0', '--tls', ...flags]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(existsSync(d), false);
  }
  const c = await trackerAsync(['dump', '--iterative', '--page-server', '--port', '1', '--tls', '--tls-cacert', g]);
  assert.equal(c.status, 2, c.stderr);
  assert.match(c.stderr, /^tracker: --tls-cacert \S+garbage\.pem: not a PEM certificate/);
});

test('9. page-server: SIGINT stops it with exit 130 and one line, and the -D it made and left empty is removed; so is one whose listen fails', { timeout: 20_000 }, async () => {
  const d = join(tmp, 'ps-sigint', 'img');
  const { child, done } = startTracker(['page-server', '-D', d, '--port', '0', '--json']);
  await waitForOutput(child, /"listening"/);
  assert.ok(existsSync(d));
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.status, 130, JSON.stringify(r));
  assert.equal(r.stderr, 'tracker: page server stopped by SIGINT; the iterations it wrote are complete, any in flight was removed\n');
  assert.match(r.stdout, /^\{"listening":\{"address":"127\.0\.0\.1","port":\d+\}\}\n$/);
  assert.equal(existsSync(d), false, 'the -D it made is gone');
  // A port in use: the listen fails, and the -D it made goes too.
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((res) => blocker.once('listening', res));
  const port = (blocker.address() as net.AddressInfo).port;
  const l = await startTracker(['page-server', '-D', d, '--port', String(port)]).done;
  blocker.close();
  assert.equal(l.status, 5, l.stderr);
  assert.equal(l.stderr, `tracker: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
  assert.equal(existsSync(d), false);
});

test('9. page-server: a connection that never says HELLO does not hold the server; a client that never connected says so', { timeout: 40_000 }, async () => {
  const d = join(tmp, 'ps-idle');
  const s = await startPageServer({ imagesDir: d, address: '127.0.0.1', port: 0, keepRunning: false, autoDedup: false });
  after(() => s.close());
  const idle = net.connect({ host: '127.0.0.1', port: s.port });
  idle.on('error', () => undefined);
  await new Promise((res) => idle.once('connect', res));
  const t0 = Date.now();
  const r = await trackerAsync(['dump', '--iterative', '--workload', model, '--policy', 'fixed', '--iterations', '2', '--page-server', '--port', String(s.port)]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - t0 < 20_000, 'not held for the idle timeout');
  await s.done;
  idle.destroy();
  assert.deepEqual(readdirSync(d).sort(), ['1', '2']);
  const never = await trackerAsync(['dump', '--iterative', '--workload', model, '--page-server', '--port', String(s.port)]);
  assert.equal(never.status, 5);
  assert.equal(never.stderr, `tracker: cannot reach the page server at 127.0.0.1:${s.port} (connection refused); nothing was sent: start \`tracker page-server\` there or check --address and --port\n`);
});

test('9. "holds no images" is exit 2 alike: empty, only user files, only an interrupted .1.tmp, and restore -D FILE', async () => {
  const root = join(tmp, 'noimages');
  mkdirSync(join(root, 'empty'), { recursive: true });
  mkdirSync(join(root, 'tmponly', '.1.tmp'), { recursive: true });
  mkdirSync(join(root, 'user'));
  writeFileSync(join(root, 'user', 'notes.txt'), 'x');
  writeFileSync(join(root, 'file'), 'x');
  const cases = ['empty', 'tmponly', 'user'].flatMap((name) => [['restore', '-D'], ['stats'], ['show'], ['check'], ['compare', join(root, 'user')]].map((cmd) => [...cmd, join(root, name)]));
  const runs = await Promise.all(cases.map((args) => trackerAsync(args)));
  runs.forEach((r, i) => {
    assert.equal(r.status, 2, `${cases[i].join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^tracker: [^\n]*(holds no images|is empty: it holds no images)[^\n]*\n$/, cases[i].join(' '));
  });
  const f = await trackerAsync(['restore', '-D', join(root, 'file')]);
  assert.equal(f.status, 2);
  assert.equal(f.stderr, `tracker: ${join(root, 'file')} is a file, not an images directory; give DIR/N of a dump\n`);
});

test('9. --seed too large says its bound; a path with a newline or an escape sequence is escaped in the one-line error', async () => {
  const s = await trackerAsync(['run', '--seed', '99999999999999999999']);
  assert.equal(s.status, 2);
  assert.match(s.stderr, /--seed must be at most 9007199254740991, got '99999999999999999999'\n/);
  const evil = join(tmp, 'a\nb\x1b[31mred');
  const r = await trackerAsync(['stats', evil]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `tracker: ${join(tmp, 'a\\nb\\x1b[31mred')}: no such file or directory\n`);
  const w = await trackerAsync(['dump', '--iterative', '--workload', join(tmp, 'x\ty\x07.json')]);
  assert.equal(w.status, 2);
  assert.equal(w.stderr.split('\n').length, 2, w.stderr);
  assert.ok(w.stderr.includes('x\\ty\\x07.json'), w.stderr);
});

test('1. SIGTERM (and SIGINT) during a long virtual copy at 1Mbit acts within a second: exit 143/130, one line, no lock', { timeout: 60_000 }, async () => {
  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    const d = join(tmp, `slow-${sig}`);
    // The default workload's first pre-dump (128 MiB) at 1 Mbit/s is 18 minutes of virtual copy
    // that the workload runs through: the signal lands inside it, not between iterations (a 4 MiB
    // heap's copy ends within the second, and the code before the fix passed that way).
    // Iteration 1's line is printed once its copy has run, so the test watches for its directory.
    const { child, done } = startTracker(['dump', '--iterative', '-D', d, '--bandwidth', '1Mbit']);
    while (!existsSync(join(d, '1'))) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    child.kill(sig);
    const r = await done;
    const ms = Date.now() - t0;
    assert.equal(r.status, code, r.stderr);
    assert.ok(ms < 1500, `stopped ${ms} ms after ${sig}`);
    assert.equal(r.stderr, 'tracker: interrupted in iteration 2; iteration 1 is intact\n');
    assert.deepEqual(readdirSync(d), ['1'], 'no lock, no .2.tmp');
    process.stdout.write(`# ${sig} during a 1Mbit copy: exit ${r.status} after ${ms} ms\n`);
  }
});

test('1. a bandwidth below 1Mbit is refused up front, by the CLI and the library alike', async () => {
  const r = await trackerAsync(['dump', '--iterative', '--bandwidth', '1', '-D', join(tmp, 'bw1')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tracker: option '--bandwidth <rate>' argument '1' is invalid\. --bandwidth must be at least 1Mbit \(125000 bytes\/s\), the slowest link tracker models, got '1'\n/);
  assert.equal(existsSync(join(tmp, 'bw1')), false);
  assert.throws(() => iterativeDump({ ...DEFAULT_DUMP_OPTIONS, imagesDir: join(tmp, 'bw2'), workload: model, seed: 1, kernel: '6.1', force: false, bandwidth: 1000 }), (e: Error) => e instanceof UsageError && /at least 1Mbit/.test(e.message));
  assert.equal(existsSync(join(tmp, 'bw2')), false);
});

test('5. every test file removes the temporary folders it makes (npm test leaves no tracker-* in /tmp)', () => {
  const files = readdirSync(join(ROOT, 'test'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  const leaks: string[] = [];
  for (const f of files) {
    const src = readFileSync(join(ROOT, 'test', f), 'utf8');
    const made = (src.match(/mkdtempSync\(join\(tmpdir\(\)/g) ?? []).length + (src.match(/= scratchDir\(/g) ?? []).length;
    const removed = (src.match(/rmSync\(/g) ?? []).length;
    if (made > removed) leaks.push(`${f}: ${made} temporary folders made, ${removed} rmSync`);
  }
  assert.deepEqual(leaks, []);
});

test('7. oversized inputs are refused in plain words, exit 2, at once: a churn of 10^8 buffers, 2 GiB workload, op script and report files', async () => {
  const churn = join(tmp, 'churn.json');
  writeFileSync(churn, JSON.stringify({ model: 'churn', params: { buffers: 100000000 } }));
  const t0 = Date.now();
  const c = await trackerAsync(['dump', '--iterative', '--workload', churn, '-D', join(tmp, 'churn-d')]);
  assert.equal(c.status, 2, c.stderr);
  assert.equal(c.stderr, `tracker: ${churn}: params.buffers: 100000000 buffers of 256 pages populate 25600000000 pages, more than the largest emulated machine holds (1047552 pages, 4 GiB); use at most 4092 buffers of this size\n`);
  assert.equal(existsSync(join(tmp, 'churn-d')), false, 'no -D, no lock');
  for (const [name, args, what] of [
    ['big.json', (f: string) => ['run', '--workload', f], 'workload file'],
    ['big.ops', (f: string) => ['script', f], 'op script'],
    ['big2.ops', (f: string) => ['dump', '--iterative', '--workload', f, '-D', join(tmp, 'big-d')], 'op script'],
    ['report.json', (f: string) => ['compare', f, f], 'base report'],
  ] as const) {
    const f = join(tmp, name);
    closeSync(openSync(f, 'w'));
    truncateSync(f, 2 * 1024 ** 3); // sparse: no disk used
    const r = await trackerAsync(args(f));
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.equal(r.stderr, `tracker: ${what} ${f} is 2048 MiB; tracker reads such files whole and takes at most 64 MiB: is it the right file?\n`);
    rmSync(f);
  }
  assert.ok(Date.now() - t0 < 20_000);
});

test('8. plan: the "over the limit" legend only with a marked row; rates answered in the unit the user gave', async () => {
  const row = (bandwidth: number, downtime: number): PlanRow => ({ policy: 'qemu', bandwidth, iterations: 2, converged: true, bytes_sent: 1 << 20, downtime_s: downtime, total_time_s: 1, meets_limit: downtime <= 0.3, plateau_iteration: null, stop_reason: 'x', track: 'soft-dirty', pages_written: 0, false_positives: null, frozen_s: 0, margin_s: 0.3 - downtime, outcome: 'converged' });
  const plan = (rows: PlanRow[]): PlanReport => ({ workload: { model: 'hot-cold', source: 'hot-cold', seed: 1 }, downtime_limit_s: 0.3, interval_s: 0, rows, best: rows[0], recommendation: 'r', answers: [], seeds: 1 }) as PlanReport;
  const ok = renderPlan(plan([row(10e9 / 8, 0.01), row(1e9 / 8, 0.1)]));
  assert.ok(!ok.includes('over the limit'), ok);
  assert.ok(!/ !$/m.test(ok));
  const over = renderPlan(plan([row(10e9 / 8, 0.01), row(1e6 / 8, 3)]));
  assert.match(over, / !\s+-\S+ \S+\s+\S+ \S+\n/);
  assert.ok(over.includes('! downtime over the limit'));
  const bytes = await trackerAsync(['plan', '--workload', model, '--policy', 'qemu', '--bandwidth', '1G', '--jobs', '1']);
  assert.equal(bytes.status, 0, bytes.stderr);
  assert.match(bytes.stdout, /^qemu +1 GiB\/s /m);
  assert.match(bytes.stdout, /recommendation: use qemu at 1 GiB\/s:/);
  const bits = await trackerAsync(['plan', '--workload', model, '--policy', 'qemu', '--bandwidth', '1Gbit', '--jobs', '1']);
  assert.match(bits.stdout, /recommendation: use qemu at 1 Gbit\/s:/);
  const dump = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', join(tmp, 'unit'), '--bandwidth', '512M/s']);
  assert.match(dump.stdout, /; link 512 MiB\/s;/);
});

test('11. at 60 columns the dump, plan, stats and compare tables fit: no line over 60, no number cut', async () => {
  const d = join(tmp, 'narrow');
  const env = { COLUMNS: '60' };
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  const dump = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '3'], { env });
  assert.equal(dump.status, 0, dump.stderr);
  for (const [what, r] of [
    ['dump', dump],
    ['plan', await trackerAsync(['plan', '--workload', model, '--policy', 'phaul', '--bandwidth', '1Gbit', '--jobs', '1'], { env })],
    ['stats', await trackerAsync(['stats', d], { env })],
    ['compare', await trackerAsync(['compare', d, d], { env })],
  ] as const) {
    assert.equal(r.status, 0, r.stderr);
    const table = r.stdout.split('\n').filter((l) => /\d/.test(l) && !l.includes(tmp) && !/^(workload|stopped|downtime|images|recommendation|base|note)/.test(visible(l)));
    assert.ok(table.length > 0, what);
    for (const l of table) assert.ok(visible(l).length <= 60, `${what}: ${visible(l).length} columns: ${l}`);
  }
  // Without a terminal or $COLUMNS a row stays whole on one line.
  const wide = await trackerAsync(['stats', d], { env: { COLUMNS: undefined } });
  assert.match(wide.stdout, /^iter +type +scanned +in parent +written/m);
});

test('11. JSON: snake_case keys everywhere (dirty_tracking, model params), sizes as workloads writes them, floats rounded; compare --json; run --help readable', async () => {
  const tracker = trackerAsync;
  const d = join(tmp, 'json');
  assert.equal((await tracker(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '2'])).status, 0);
  const camel = (text: string) => [...text.matchAll(/"([a-z0-9]+[A-Z][A-Za-z0-9]*)":/g)].map((m) => m[1]);
  const show = await tracker(['show', join(d, '2'), '--json']);
  assert.deepEqual(camel(show.stdout), [], 'show --json');
  const inv = JSON.parse((await tracker(['show', join(d, '2', 'inventory.img'), '--json'])).stdout) as { contents: { workload: { params: Record<string, unknown> } } };
  assert.deepEqual(Object.keys(inv.contents.workload.params).sort(), ['cold_write_fraction', 'heap', 'hot_access_fraction', 'hot_set', 'hot_write_fraction', 'rate']);
  assert.equal(inv.contents.workload.params.heap, '4M', 'the heap as workloads and model files write it, not in pages');
  const run = await tracker(['run', '--workload', model, '--duration', '300', '--sample-interval', '100', '--json']);
  const rj = JSON.parse(run.stdout) as { dirty_tracking: boolean; workload: { params: { hot_set: string } } };
  assert.equal(rj.dirty_tracking, true);
  assert.equal(rj.workload.params.hot_set, '256K');
  assert.deepEqual(camel(run.stdout), []);
  const wl = await tracker(['workloads', '--json']);
  assert.deepEqual(camel(wl.stdout), []);
  assert.ok(wl.stdout.includes('"name": "hot_set"'));
  // The snake_case names shown are accepted back in a model file.
  const snake = join(tmp, 'snake.json');
  writeFileSync(snake, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hot_set: '256K' } }));
  assert.equal((await tracker(['run', '--workload', snake, '--duration', '100', '--sample-interval', '100'])).status, 0);
  const dj = await tracker(['dump', '--iterative', '--workload', model, '-D', join(tmp, 'json2'), '--bandwidth', '100Mbit', '--json']);
  assert.doesNotMatch(dj.stdout, /\d\.\d{13,}/, 'no floating-point noise');
  const a = await tracker(['compare', d, d, '--json']);
  const b = await tracker(['compare', d, d, '--format', 'json']);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const help = await tracker(['run', '--help']);
  assert.match(help.stdout, /\(default:\s+2s\)/);
  assert.match(help.stdout, /\(default:\s+250ms\)/);
  assert.doesNotMatch(help.stdout, /\{"seconds"/);
});

test('11. the auto-converge throttle is a column of the text table', async () => {
  const r = await trackerAsync(['dump', '--iterative', '--workload', model, '-D', join(tmp, 'ac'), '--policy', 'qemu', '--auto-converge', '--bandwidth', '1Mbit', '--downtime-limit', '1ms', '--max-iters', '4']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /exp\. downtime +throttle\n/);
  assert.match(r.stdout, /^4 +dump .* \d+%$/m);
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test('11. on a terminal, plan and restore show progress (ora)', { skip: hasScript ? false : 'util-linux script(1) is not installed' }, async () => {
  const d = join(tmp, 'progress');
  assert.equal((await trackerAsync(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '2'])).status, 0);
  const onTty = (args: string) => spawnSync('script', ['-qec', `stty cols 100; ${process.execPath} ${TRACKER_BIN} ${args}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, CI: undefined, NO_COLOR: undefined, FORCE_COLOR: undefined, COLUMNS: undefined } as NodeJS.ProcessEnv, timeout: 60_000 });
  const restore = onTty(`restore -D ${join(d, '2')} --verify --resume-steps 100`);
  assert.equal(restore.status, 0, restore.stdout);
  assert.match(restore.stdout, /restoring .*reading the chain/);
  assert.match(restore.stdout, /--verify: running the workload uninterrupted/);
  const plan = onTty(`plan --workload ${model} --policy phaul,qemu --bandwidth 1Gbit,10Gbit --jobs 1`);
  assert.equal(plan.status, 0, plan.stdout);
  assert.match(plan.stdout, /plan: \d of 4 combinations done/);
  // qemu's combinations run alone and say which iteration they are in, from the worker thread.
  assert.match(plan.stdout, /; qemu at 1\d? Gbit\/s in iteration \d+/);
});

test('4. a dump whose progress lines go to /dev/full stops at a safe point: exit 5 (not 141), one line, no lock', { skip: !existsSync('/dev/full') }, () => {
  const d = join(tmp, 'full-progress');
  const r = spawnToDevFull(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '40', '--interval', '20000']);
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /^tracker: cannot write to standard output: no space left on device \(ENOSPC\); redirect it elsewhere; the dump stopped: interrupted in iteration \d+; [^\n]+ intact\n$/);
  assert.ok(readdirSync(d).every((e) => /^\d+$/.test(e)), 'no lock, no .N.tmp');
});
