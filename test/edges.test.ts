/**
 * The edges a new user hits (issue 20): closed and full stdout, signals in long transfers, reports
 * onto bad destinations, bad TLS input, oversized inputs, exit codes, escaped paths. A real process
 * and a real signal or pipe where the process is what is tested; tiny heaps throughout.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TRACKER_BIN, tracker } from './spawn.js';

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
  assert.match(r.stderr, /^tracker: standard output was closed \(EPIPE\) or could not be written, so the dump stopped: interrupted in iteration \d+; (iteration 1 is|iterations 1-\d+ are) intact\n$/);
  const left = readdirSync(d);
  assert.ok(left.length < 40, 'it stopped early');
  assert.ok(left.every((e) => /^\d+$/.test(e)), `no lock, no .N.tmp: ${left.join(' ')}`);
});

test('2. a short command whose reader went away exits 141, not 0', async () => {
  const r = await throughHead(['workloads']);
  // workloads prints its list in one go; whether the pipe broke depends on the pipe's buffer.
  if (r.status !== 0) assert.equal(r.status, 141, r.stderr);
  const big = await throughHead(['run', '--workload', model, '--duration', '400', '--sample-interval', '1']);
  assert.equal(big.status, 141, big.stderr);
  assert.equal(big.stderr, 'tracker: standard output was closed before tracker finished (EPIPE): what tracker printed was cut short\n');
});

test('4. writing to /dev/full: exit 5 and one line, for compare, dump --json, workloads and stats', { skip: !existsSync('/dev/full') }, () => {
  const d = join(tmp, 'full');
  assert.equal(tracker(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '2', '--interval', '2000']).status, 0);
  const line = 'tracker: cannot write to standard output: no space left on device (ENOSPC); redirect it elsewhere\n';
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

test('3. --report into a missing folder fails before the dump, exit 2, nothing written', () => {
  const d = join(tmp, 'report-missing');
  const t0 = Date.now();
  const r = tracker(['dump', '--iterative', '--workload', model, '-D', d, '--report', join(tmp, 'nope', 'r.html')]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, `tracker: --report ${join(tmp, 'nope', 'r.html')}: the folder ${join(tmp, 'nope')} does not exist; create it or choose another --report path\n`);
  assert.equal(existsSync(d), false, 'no dump was made');
  assert.ok(Date.now() - t0 < 5000);
  const p = tracker(['plan', '--workload', model, '--report', join(tmp, 'nope', 'p.html')]);
  assert.equal(p.status, 2, p.stderr);
});

const canMount = (() => {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const probe = mkdtempSync(join(tmp, 'probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
  if (r.status !== 0) return `cannot mount a tmpfs here: ${String(r.stderr).trim()}`;
  spawnSync('umount', [probe]);
  return false;
})();

test('3. --report onto a nearly full disk: exit 5, one line, no truncated page and no temporary file', { skip: canMount }, () => {
  const mnt = mkdtempSync(join(tmp, 'tmpfs-'));
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).status, 0);
  try {
    // Leave 8 KiB: the report (a few tens of KiB) starts to be written, then the disk is full.
    const fs = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 8192));
    const file = join(mnt, 'r.html');
    const r = tracker(['dump', '--iterative', '--workload', model, '-D', join(tmp, 'report-full'), '--policy', 'fixed', '--iterations', '2', '--report', file]);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stderr, `tracker: cannot write the report ${file}: no space left on device (ENOSPC); free some space or choose another --report path\n`);
    assert.deepEqual(readdirSync(mnt), ['filler']);
  } finally {
    spawnSync('umount', [mnt]);
  }
});
