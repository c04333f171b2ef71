/**
 * Data safety (issue 11): --force removes only what tracker wrote, the images-directory lock,
 * SIGINT/SIGTERM, disk full and read-only targets, no empty -D left behind, P.Haul's rule without
 * soft-dirty. In-process (the library, or the CLI through test/helpers/cli.ts) where the process is
 * not what is tested; real processes for concurrent dumps, signals and the terminal; small heaps.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LOCK_FILE, lockImagesDir, selfOwner } from '../../src/criu/images-dir.js';
import { dumper } from '../helpers/dump.js';
import { primitiveDump } from '../../src/migrate/primitive.js';
import { checkChain } from '../../src/criu/page-read.js';
import { restore } from '../../src/migrate/resume.js';
import { InputError, InterruptedError, IoError, LockedError, UsageError } from '../../src/errors.js';
import { trackerAsync as tracker } from '../helpers/cli.js';
import { startTracker, TRACKER_BIN, waitForOutput } from '../helpers/spawn.js';
import { cannotMountTmpfs } from '../helpers/tmpfs.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-safety-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '256K' } }));

const dump = dumper(tmp, { workload: model, interval: 4000, memoryBytes: 64 << 20 });

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

/** Every iteration of a finished chain loads with its checksums, and the final dump restores. */
function assertRestores(dir: string, last: number): void {
  const r = restore({ dir: join(dir, String(last)), verify: true, resumeSteps: 100, onMismatch: 'report' });
  assert.equal(r.digest_ok, true);
  assert.equal(r.verify.ran, true);
}

function throwsWith<E extends Error>(f: () => unknown, cls: new (...a: never[]) => E, message: string | RegExp): E {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error).stack}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${cls.name}`);
}

// ---- 1. --force removes only what tracker wrote --------------------------------------------------

test('--force refuses a -D holding files tracker did not write, naming the first, and removes nothing', async () => {
  const p = join(tmp, 'force-user');
  mkdirSync(join(p, 'src'), { recursive: true });
  writeFileSync(join(p, 'src', 'a.c'), 'x\n');
  const r = await tracker(['dump', '--iterative', '--workload', model, '-D', p, '--force']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `tracker: ${p} holds src, which tracker did not write; --force replaces only tracker's images: move it away or choose another -D\n`);
  assert.deepEqual(listing(p), ['src', join('src', 'a.c')]);
  assert.equal(readFileSync(join(p, 'src', 'a.c'), 'utf8'), 'x\n');
});

test("--force checks inside tracker's iterations too: a foreign file, a foreign inventory, a symlink", () => {
  const cases: [string, (dir: string) => void, string][] = [
    ['notes in an iteration', (d) => writeFileSync(join(d, '2', 'notes.txt'), 'mine'), join('2', 'notes.txt')],
    ['a numbered directory of the user', (d) => mkdirSync(join(d, '7')), join('7', 'inventory.img')],
    ['an inventory that is not tracker', (d) => writeFileSync(join(d, '3', 'inventory.img'), 'not an image'), join('3', 'inventory.img')],
    ['a symlink named like an iteration', (d) => symlinkSync(join(d, '1'), join(d, '9')), '9'],
    ['a file among the leftovers', (d) => writeFileSync(join(d, '.4.tmp'), 'x'), '.4.tmp'],
  ];
  for (const [what, plant, first] of cases) {
    const d = join(tmp, `force-${what.replace(/ /g, '-')}`);
    dump(d);
    plant(d);
    const before = listing(d);
    throwsWith(() => dump(d, { force: true }), UsageError, `${d} holds ${first}, which tracker did not write; --force replaces only tracker's images: move it away or choose another -D`);
    assert.deepEqual(listing(d), before, what);
  }
});

test("--force replaces tracker's iterations, an interrupted .N.tmp and a stale lock, and the new chain restores", () => {
  const d = join(tmp, 'force-ours');
  dump(d, { iterations: 4 });
  mkdirSync(join(d, '.5.tmp'));
  writeFileSync(join(d, '.5.tmp', 'pagemap.img'), 'partial');
  writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, start: '1' }));
  throwsWith(() => dump(d), UsageError, `${d} holds an interrupted dump (.5.tmp after 4 complete iterations); pass --force to start over, or choose another -D`);
  dump(d, { force: true });
  assert.deepEqual(readdirSync(d).sort(), ['1', '2', '3']);
  assertRestores(d, 3);
});

test('pre-dump --force replaces an iteration only if tracker wrote it', () => {
  const root = join(tmp, 'prim');
  mkdirSync(join(root, '1'), { recursive: true });
  writeFileSync(join(root, '1', 'keep.txt'), 'mine');
  const o = { imagesDir: join(root, '1'), trackMem: true, type: 'pre-dump' as const, workload: model, seed: 1, kernel: '6.1' as const, interval: 2000, bandwidth: 1 << 30, force: true, memoryBytes: 64 << 20 };
  throwsWith(() => primitiveDump(o), UsageError, `${join(root, '1', 'keep.txt')} was not written by tracker; --force replaces only tracker's images: move it away or choose another -D`);
  assert.equal(readFileSync(join(root, '1', 'keep.txt'), 'utf8'), 'mine');
  rmSync(join(root, '1'), { recursive: true });
  primitiveDump(o);
  primitiveDump(o); // replaces its own
  assert.deepEqual(readdirSync(root).sort(), ['1']);
});

// ---- 2. the lock ---------------------------------------------------------------------------------

test('a locked images directory: dump, pre-dump and restore fail at once with one line, nothing changes', async () => {
  const d = join(tmp, 'locked');
  dump(d);
  const before = listing(d);
  const release = lockImagesDir(d);
  try {
    const pid = selfOwner().pid;
    const line = `tracker: ${d} is in use by pid ${pid} (another tracker dump); wait for it to finish or choose another -D\n`;
    for (const args of [
      ['dump', '--iterative', '--workload', model, '-D', d, '--force'],
      ['pre-dump', '-D', join(d, '4'), '--prev-images-dir', '../2', '--track-mem'],
      ['restore', '-D', join(d, '3')],
    ]) {
      const r = await tracker(args);
      assert.equal(r.status, 2, args[0]);
      assert.equal(r.stderr, line, args[0]);
      assert.equal(r.stdout, '');
    }
    throwsWith(() => dump(d, { force: true }), LockedError, line.slice('tracker: '.length, -1));
    assert.deepEqual(listing(d), [...before, LOCK_FILE].sort());
  } finally {
    release();
  }
  assert.deepEqual(listing(d), before, 'release removes the lock');
});

test('a stale lock (pid gone, pid reused with another start time, or garbage) is taken over', () => {
  const gone = spawnSync('true').pid!;
  const me = selfOwner();
  const stale = [JSON.stringify({ pid: gone, start: '123' }), JSON.stringify({ pid: me.pid, start: String(Number(me.start) + 1) }), '{"pid":', ''];
  for (const [i, content] of stale.entries()) {
    const d = join(tmp, `stale-${i}`);
    mkdirSync(d);
    writeFileSync(join(d, LOCK_FILE), content);
    dump(d);
    assert.deepEqual(readdirSync(d).sort(), ['1', '2', '3'], `lock ${content}`);
  }
});

test('concurrent dumps: different directories all succeed; the same directory gives exactly one success', async () => {
  const args = (d: string) => ['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '4', '--interval', '20000'];
  const apart = await Promise.all([0, 1, 2].map((i) => startTracker(args(join(tmp, `apart-${i}`))).done));
  for (const [i, r] of apart.entries()) {
    assert.equal(r.status, 0, r.stderr);
    assertRestores(join(tmp, `apart-${i}`), 4);
  }
  const same = join(tmp, 'same');
  const runs = await Promise.all([0, 1, 2, 3].map(() => startTracker(args(same)).done));
  const ok = runs.filter((r) => r.status === 0);
  assert.equal(ok.length, 1, runs.map((r) => `${r.status}: ${r.stderr}`).join('\n'));
  let inUse = 0;
  for (const r of runs.filter((x) => x.status !== 0)) {
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`^tracker: ${same} (is in use by pid \\d+ \\(another tracker dump\\)|is not empty); [^\\n]+\\n$`));
    if (r.stderr.includes('in use')) inUse++;
  }
  assert.deepEqual(readdirSync(same).sort(), ['1', '2', '3', '4']);
  assertRestores(same, 4);
  process.stdout.write(`# concurrent dumps into one directory: 1 succeeded, ${inUse} refused as in use, ${3 - inUse} as not empty\n`);
});

// ---- 3. SIGINT and SIGTERM -----------------------------------------------------------------------

test('an aborted dump stops at the next safe point, removes the partial iteration and says what is intact', () => {
  for (const [when, point] of [['start', null], ['middle', 'pages.img:middle'], ['rename', 'rename']] as const) {
    const d = join(tmp, `abort-${when}`);
    const ac = new AbortController();
    throwsWith(
      () =>
        dump(d, {
          iterations: 4,
          onIteration: (s, phase) => {
            if (point === null && phase === 'start' && s.iteration === 3) ac.abort();
          },
          faultPoint: (it, p) => {
            if (it === 3 && p === point) ac.abort();
          },
          signal: ac.signal,
        }),
      InterruptedError,
      'interrupted in iteration 3; iterations 1-2 are intact',
    );
    assert.deepEqual(readdirSync(d).sort(), ['1', '2'], when);
    assert.equal(checkChain(join(d, '2')).links.length, 2);
  }
});

test('an aborted pre-dump leaves nothing of its iteration and releases the lock', () => {
  const root = join(tmp, 'abort-prim');
  const base = { trackMem: true, kernel: '6.1' as const, interval: 2000, bandwidth: 1 << 30, force: false, memoryBytes: 64 << 20 };
  primitiveDump({ ...base, imagesDir: join(root, '1'), type: 'pre-dump', workload: model, seed: 1 });
  const ac = new AbortController();
  throwsWith(
    () => primitiveDump({ ...base, imagesDir: join(root, '2'), prevImagesDir: '../1', type: 'pre-dump', signal: ac.signal, faultPoint: (it, p) => p === 'pages.img:middle' && it === 2 && ac.abort() }),
    InterruptedError,
    `interrupted in iteration 2 (${join(root, '2')}); nothing of it was kept`,
  );
  assert.deepEqual(readdirSync(root), ['1']);
  primitiveDump({ ...base, imagesDir: join(root, '2'), prevImagesDir: '../1', type: 'dump' });
  assertRestores(root, 2);
});

async function interrupt(sig: 'SIGINT' | 'SIGTERM', code: number): Promise<void> {
  const d = join(tmp, `signal-${sig}`);
  const { child, done } = startTracker(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '200', '--interval', '20000']);
  await waitForOutput(child, /pre-dump +2:/);
  child.kill(sig);
  const r = await done;
  assert.equal(r.status, code, r.stderr);
  const m = /^tracker: interrupted in iteration (\d+); iterations 1-(\d+) are intact\n$/.exec(r.stderr);
  assert.ok(m !== null, r.stderr);
  const n = Number(m[1]);
  assert.equal(Number(m[2]), n - 1);
  assert.deepEqual(readdirSync(d).map(Number).sort((a, b) => a - b), Array.from({ length: n - 1 }, (_, i) => i + 1), 'no .N.tmp, no lock');
  // The chain continues by hand (CRIU's dump --prev-images-dir --track-mem) and restores.
  primitiveDump({ imagesDir: join(d, String(n)), prevImagesDir: `../${n - 1}`, trackMem: true, type: 'dump', interval: 1000, bandwidth: 1 << 30, force: false, memoryBytes: 64 << 20 });
  assertRestores(d, n);
}

test('SIGINT during a dump: one line, exit 130, earlier iterations intact and continuable', () => interrupt('SIGINT', 130));
test('SIGTERM during a dump: one line, exit 143', () => interrupt('SIGTERM', 143));

test('on a terminal with a width the spinner runs, and SIGINT still stops the dump', { skip: spawnSync('script', ['--version']).status !== 0 ? 'util-linux script(1) is not installed' : false }, async () => {
  const d = join(tmp, 'pty');
  const cmd = `stty cols 80; exec ${process.execPath} ${TRACKER_BIN} dump --iterative --workload ${model} -D ${d} --policy fixed --iterations 200 --interval 20000`;
  const s = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, CI: undefined, NO_COLOR: undefined, FORCE_COLOR: undefined } as NodeJS.ProcessEnv });
  let out = '';
  await new Promise<void>((resolve) =>
    s.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (/pre-dump +2:/.test(out)) resolve();
    }),
  );
  const children = readFileSync(`/proc/${s.pid}/task/${s.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  process.kill(children[0], 'SIGINT');
  const status = await new Promise<number | null>((resolve) => s.on('close', resolve));
  assert.equal(status, 130, out);
  assert.match(out, /\u280b(\x1b\[\d+m)? iteration 1: running the workload/, 'the spinner ran');
  assert.match(out, /tracker: interrupted in iteration \d+; iterations 1-\d+ are intact/);
  assert.ok(!readdirSync(d).some((e) => e.startsWith('.')), 'no .N.tmp, no lock');
});

// ---- 4. disk full, read-only, injected ENOSPC ----------------------------------------------------

test('an injected ENOSPC (TRACKER_FAULT=2:pages.img:enospc): one line, exit 5, .2.tmp removed, iteration 1 intact', async () => {
  for (const point of ['pages.img', 'pages.img:middle', 'inventory.img']) {
    const d = join(tmp, `enospc-${point.replace(':', '-')}`);
    const r = await tracker(['dump', '--iterative', '--workload', model, '-D', d, '--policy', 'fixed', '--iterations', '3', '--interval', '4000'], { env: { TRACKER_FAULT: `2:${point}:enospc` } });
    assert.equal(r.status, 5, r.stderr);
    const file = point === 'pages.img:middle' ? 'pages.img' : point;
    assert.equal(r.stderr, `tracker: iteration 2: cannot write ${join(d, '.2.tmp', file)}: no space left on device; free some space or choose another -D; the partial iteration was removed, earlier ones are intact\n`);
    assert.deepEqual(readdirSync(d), ['1']);
    assert.equal(checkChain(join(d, '1')).links.length, 1);
  }
  // In-process, the hook is the library's: an I/O error from the writer becomes IoError.
  const d = join(tmp, 'enospc-lib');
  throwsWith(
    () =>
      dump(d, {
        faultPoint: (it, p) => {
          if (it === 1 && p === 'stats.img') throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        },
      }),
    IoError,
    `iteration 1: cannot write ${join(d, '.1.tmp', 'stats.img')}: input/output error; check the disk; the partial iteration was removed, earlier ones are intact`,
  );
  assert.equal(existsSync(d), false, 'the -D tracker created is removed again');
});

const canMount = cannotMountTmpfs(tmp);

test('disk full on a 2 MiB tmpfs: exit 5, one line, the space comes back; read-only: exit 5', { skip: canMount }, async () => {
  const mnt = mkdtempSync(join(tmp, 'tmpfs-'));
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status, 0);
  try {
    writeFileSync(join(mnt, 'user-file'), 'keep me');
    const d = join(mnt, 'img');
    const r = await tracker(['dump', '--iterative', '--workload', model, '-D', d]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /^tracker: iteration 1: cannot write [^\n]*\/img\/\.1\.tmp\/pages\.img: no space left on device; free some space or choose another -D; [^\n]*\n$/);
    assert.deepEqual(readdirSync(mnt), ['user-file'], 'no .1.tmp, and the -D tracker created is gone');
    const fs = statfsSync(mnt);
    assert.ok(fs.bfree * fs.bsize >= 2 * 1024 * 1024 - 16 * 1024, `free ${fs.bfree * fs.bsize}`);
    assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);
    const ro = await tracker(['dump', '--iterative', '--workload', model, '-D', join(mnt, 'img')]);
    assert.equal(ro.status, 5);
    assert.equal(ro.stderr, `tracker: cannot create images directory ${join(mnt, 'img')}: read-only file system (EROFS); choose another -D\n`);
    const ro2 = await tracker(['dump', '--iterative', '--workload', model, '-D', mnt, '--force']);
    assert.equal(ro2.status, 5);
    assert.equal(ro2.stderr, `tracker: cannot lock images directory ${mnt}: read-only file system (EROFS); choose a writable -D\n`);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('a refused workload or a too-small --memory leaves no -D behind; an existing -D is kept', async () => {
  const d = join(tmp, 'refused', 'deep', 'img');
  throwsWith(() => dump(d, { workload: 'no-such-model' }), InputError, /^unknown workload 'no-such-model'/);
  assert.equal(existsSync(join(tmp, 'refused')), false);
  const big = join(tmp, 'big.json');
  writeFileSync(big, JSON.stringify({ model: 'uniform', params: { heap: '64M' } }));
  const r = await tracker(['dump', '--iterative', '--workload', big, '-D', d, '--memory', '32M']);
  assert.equal(r.status, 4);
  assert.match(r.stderr, /^tracker: workload uniform: emulated memory exhausted at 0x[0-9a-f]+; use a smaller heap or more --memory\n$/);
  assert.equal(existsSync(join(tmp, 'refused')), false);
  const mine = join(tmp, 'mine-empty');
  mkdirSync(mine);
  assert.equal((await tracker(['dump', '--iterative', '--workload', big, '-D', mine, '--memory', '32M'])).status, 4);
  assert.deepEqual(readdirSync(mine), [], 'a -D the user made stays, empty');
});

// ---- 7. no soft-dirty -----------------------------------------------------------------------------

test('--kernel no-soft-dirty --iterative: one full dump and a warning, as P.Haul without memory tracking', () => {
  const d = join(tmp, 'nsd');
  const r = dump(d, { kernel: 'no-soft-dirty', iterations: 5 }).report;
  assert.equal(r.iterations.length, 1);
  assert.equal(r.iterations[0].type, 'dump');
  assert.equal(r.dirty_tracking, false);
  assert.equal(r.warning, "kernel profile 'no-soft-dirty' has no soft-dirty tracking: no pre-dumps, one full dump (as P.Haul does without memory tracking)");
  assert.equal(r.stop_reason, 'no soft-dirty tracking: one full dump');
  assert.deepEqual(readdirSync(d), ['1']);
  assertRestores(d, 1);
});

test('--leave-running is gone: the process never outlives a final dump', async () => {
  const r = await tracker(['dump', '--iterative', '--leave-running']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tracker: unknown option '--leave-running'\n/);
  throwsWith(() => primitiveDump({ imagesDir: join(tmp, 'nsd', '2'), prevImagesDir: '../1', trackMem: false, type: 'pre-dump', interval: 10, bandwidth: 1 << 30, force: false }), UsageError, /is a final dump: its process was killed/);
});
