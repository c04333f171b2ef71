/**
 * Reliability: a restore is either exactly right or refused. Crash points during a dump, and
 * thousands of corruptions of a valid image chain; the counts are printed for the README.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Packr } from 'msgpackr';
import { encodeImage, HEADER_BYTES, IMAGE_FILES, type ImageKind } from '../src/criu/image.js';
import { CRASH_POINTS, DEFAULT_DUMP_OPTIONS, iterativeDump } from '../src/criu/iterative.js';
import { checkChain } from '../src/criu/page-read.js';
import { restore } from '../src/criu/restore.js';
import { TrackerError } from '../src/errors.js';
import { showIteration, showRss } from '../src/criu/show.js';
import { chainStats } from '../src/criu/stats.js';
import { ROOT } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-rel-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '8M', hotSet: '512K' } }));

function tracker(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'tracker.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

const DUMP = ['dump', '--iterative', '--workload', model, '--policy', 'fixed', '--iterations', '3', '--interval', '5000'];

test('a crash at every write point leaves earlier iterations intact and the interrupted one absent or refused', () => {
  let covered = 0;
  for (const iteration of [2, 3]) {
    for (const point of CRASH_POINTS) {
      if (iteration === 2 && ['mm.img', 'shmem.img', 'core.img'].includes(point)) continue; // pre-dumps do not write these
      const dir = join(tmp, `crash-${iteration}-${point.replace(':', '-')}`);
      const r = tracker([...DUMP, '-D', dir], { TRACKER_FAULT: `${iteration}:${point}` });
      assert.equal(r.signal, 'SIGKILL', `${iteration}:${point} should have crashed: ${r.stderr}`);
      covered++;
      const names = readdirSync(dir).sort();
      assert.ok(!names.includes(String(iteration)), `${iteration}:${point}: the interrupted iteration must not look complete`);
      assert.ok(names.includes(`.${iteration}.tmp`), `${iteration}:${point}: its temporary directory is left, as after a real crash`);
      // Everything before it still loads with every checksum verified.
      assert.equal(checkChain(join(dir, String(iteration - 1))).links.length, iteration - 1);
      const rr = tracker(['restore', '-D', join(dir, String(iteration))]);
      assert.equal(rr.status, 3);
      assert.match(rr.stderr, /^tracker: .*interrupted while being written.*dump again\n$/);
      const again = tracker([...DUMP, '-D', dir]);
      assert.equal(again.status, 2);
      assert.match(again.stderr, /holds an interrupted dump \(\.\d\.tmp after \d complete iterations?\); pass --force/);
    }
  }
  // And --force recovers: a full dump that restores and verifies.
  const dir = join(tmp, 'crash-3-rename');
  const forced = tracker([...DUMP, '-D', dir, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  const restored = tracker(['restore', '-D', join(dir, '3'), '--verify', '--resume-steps', '1000']);
  assert.equal(restored.status, 0, restored.stderr);
  process.stdout.write(`# crash points covered: ${covered}\n`);
  assert.equal(covered, 15);
});

// ---- corruption fuzzing ------------------------------------------------------------------------

const packr = new Packr({ useRecords: false, variableMapSize: true });
const KINDS: Record<string, ImageKind> = Object.fromEntries(Object.entries(IMAGE_FILES).map(([k, f]) => [f, k as ImageKind]));

/** A small PRNG so the fuzz run is the same every time. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('thousands of corruptions: restore succeeds with verified memory or refuses with a one-line error, never anything else', () => {
  const base = join(tmp, 'fuzz-base');
  iterativeDump({
    ...DEFAULT_DUMP_OPTIONS,
    imagesDir: base,
    workload: join(ROOT, 'fixtures', 'ops', 'fuzz-chain.ops'),
    seed: 1,
    kernel: '6.1',
    interval: 4,
    policy: 'fixed',
    iterations: 3,
    leaveRunning: false,
    force: false,
    memoryBytes: 64 << 20,
  });
  const files: string[] = [];
  for (const it of ['1', '2', '3']) for (const f of readdirSync(join(base, it))) files.push(join(it, f));
  const rand = mulberry32(20261125);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const work = join(tmp, 'fuzz');
  const counts = { tried: 0, refused: 0, restored_and_verified: 0, show_tried: 0, show_ok: 0, show_refused: 0, other: 0 };
  const others: string[] = [];
  const semantic: ((o: Record<string, unknown>, kind: ImageKind) => void)[] = [
    (o, k) => {
      if (k === 'pagemap' && Array.isArray(o.entries) && o.entries.length > 0) (o.entries as Record<string, unknown>[])[0].nr_pages = 2 ** 40;
    },
    (o, k) => {
      if (k === 'pagemap' && Array.isArray(o.entries) && o.entries.length > 0) (o.entries as Record<string, unknown>[])[0].vaddr = -5;
    },
    (o, k) => {
      if (k === 'inventory') o.parent = pick(['.', '../3', '../9', '../../etc', '/etc', 7, '../2/../../x']);
    },
    (o, k) => {
      if (k === 'inventory') o.iteration = pick([0, -1, 2 ** 60, 'x', 99]);
    },
    (o, k) => {
      if (k === 'inventory') o.kernel = 'linux-0.01';
    },
    (o, k) => {
      if (k === 'mm' && Array.isArray(o.vmas) && o.vmas.length > 0) {
        const v = (o.vmas as Record<string, unknown>[])[0];
        v.end = pick([2 ** 40, -1, v.start, 'x']);
      }
    },
    (o, k) => {
      if (k === 'shmem' && Array.isArray(o.objects) && o.objects.length > 0) (o.objects as { runs: unknown }[])[0].runs = [[0, 2 ** 40]];
    },
    (o, k) => {
      if (k === 'core') o.state = pick([null, 5, { identity: null, steps: 'x' }, {}]);
    },
    (o, k) => {
      if (k === 'stats' || k === 'inventory') for (const key of Object.keys(o)) if (rand() < 0.3) delete o[key];
    },
  ];
  for (let n = 0; n < 3000; n++) {
    rmSync(work, { recursive: true, force: true });
    cpSync(base, work, { recursive: true });
    const rel = pick(files);
    const path = join(work, rel);
    const data = readFileSync(path);
    const kind = pick(['flip', 'flip', 'truncate', 'extend', 'swap', 'delete', 'semantic', 'semantic', 'magic', 'version', 'parent-link'] as const);
    switch (kind) {
      case 'flip': {
        const i = Math.floor(rand() * data.length);
        data[i] ^= 1 << Math.floor(rand() * 8);
        writeFileSync(path, data);
        break;
      }
      case 'truncate':
        writeFileSync(path, data.subarray(0, Math.floor(rand() * data.length)));
        break;
      case 'extend':
        writeFileSync(path, Buffer.concat([data, Buffer.alloc(1 + Math.floor(rand() * 5000), Math.floor(rand() * 256))]));
        break;
      case 'swap': {
        const other = join(work, pick(files));
        const od = readFileSync(other);
        writeFileSync(other, data);
        writeFileSync(path, od);
        break;
      }
      case 'delete':
        unlinkSync(path);
        break;
      case 'semantic': {
        const k = KINDS[rel.split('/')[1]];
        if (k === undefined || k === 'pages') continue;
        const o = packr.unpack(data.subarray(HEADER_BYTES)) as Record<string, unknown>;
        pick(semantic)(o, k);
        writeFileSync(path, encodeImage(k, o));
        break;
      }
      case 'magic':
        data.writeUInt32LE(0xdeadbeef, 0);
        writeFileSync(path, data);
        break;
      case 'version':
        data.writeUInt32LE(2, 4);
        writeFileSync(path, data);
        break;
      case 'parent-link': {
        // An iteration directory replaced by a symlink that leads out of the images root.
        const it = pick(['1', '2']);
        rmSync(join(work, it), { recursive: true });
        symlinkSync(pick([tmpdir(), '/', join(base, it)]), join(work, it));
        break;
      }
    }
    counts.tried++;
    const t0 = Date.now();
    try {
      const r = restore({ dir: join(work, '3'), resumeSteps: 0, verify: false });
      assert.equal(r.digest_ok, true);
      counts.restored_and_verified++;
    } catch (e) {
      if (e instanceof TrackerError && !e.message.includes('\n')) counts.refused++;
      else {
        counts.other++;
        if (others.length < 5) others.push(`${kind} ${rel}: ${(e as Error).stack}`);
      }
    }
    assert.ok(Date.now() - t0 < 5000, `${kind} ${rel}: restore took ${Date.now() - t0} ms`);
    // show and stats read the same images: they must decode or refuse, never crash.
    for (const view of [() => showIteration(join(work, '3')), () => showRss(join(work, '3')), () => chainStats(work)]) {
      counts.show_tried++;
      try {
        view();
        counts.show_ok++;
      } catch (e) {
        if (e instanceof TrackerError && !e.message.includes('\n')) counts.show_refused++;
        else {
          counts.other++;
          if (others.length < 5) others.push(`show after ${kind} ${rel}: ${(e as Error).stack}`);
        }
      }
    }
  }
  process.stdout.write(`# corruption fuzz: ${JSON.stringify(counts)}\n`);
  assert.deepEqual(others, []);
  assert.equal(counts.other, 0);
  assert.ok(counts.refused > 2000, 'most corruptions must be caught');
  assert.ok(existsSync(base));
});
