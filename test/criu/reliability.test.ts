/**
 * Reliability: a restore is either exactly right or refused. Crash points during a dump, and
 * 500 corruptions of a valid image chain; the counts are printed for the README.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Packr } from 'msgpackr';
import { encodeImage, HEADER_BYTES, IMAGE_FILES, type ImageKind } from '../../src/criu/image.js';
import { CRASH_POINTS } from '../../src/migrate/iterative.js';
import { dumper } from '../helpers/dump.js';
import { checkChain, checkReport } from '../../src/criu/page-read.js';
import { compare } from '../../src/criu/compare.js';
import { restore } from '../../src/migrate/resume.js';
import { ImageError, TrackerError, UsageError } from '../../src/errors.js';
import { showIteration, showRss } from '../../src/criu/show.js';
import { chainStats } from '../../src/criu/stats.js';
import { ROOT } from '../helpers/root.js';
import { startTracker } from '../helpers/spawn.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-rel-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'small.json');
writeFileSync(model, JSON.stringify({ model: 'hot-cold', params: { heap: '4M', hotSet: '256K' } }));

const DUMP = ['dump', '--iterative', '--workload', model, '--policy', 'fixed', '--iterations', '3', '--interval', '4000'];

const dump = dumper(tmp, { workload: model, interval: 4000, memoryBytes: 64 << 20 });

test('a crash at every write point leaves earlier iterations intact and the interrupted one absent or refused', async () => {
  const cases: [number, string][] = [];
  for (const iteration of [2, 3]) {
    for (const point of CRASH_POINTS) {
      if (iteration === 2 && ['mm.img', 'shmem.img', 'core.img'].includes(point)) continue; // pre-dumps do not write these
      cases.push([iteration, point]);
    }
  }
  // Only the crash needs a process of its own (SIGKILL); the checks after it run in-process.
  const runs = await Promise.all(cases.map(([iteration, point]) => startTracker([...DUMP, '-D', join(tmp, `crash-${iteration}-${point.replace(':', '-')}`)], { env: { TRACKER_FAULT: `${iteration}:${point}` } }).done));
  for (const [i, [iteration, point]] of cases.entries()) {
    const dir = join(tmp, `crash-${iteration}-${point.replace(':', '-')}`);
    assert.equal(runs[i].signal, 'SIGKILL', `${iteration}:${point} should have crashed: ${runs[i].stderr}`);
    const names = readdirSync(dir).sort();
    assert.ok(!names.includes(String(iteration)), `${iteration}:${point}: the interrupted iteration must not look complete`);
    assert.ok(names.includes(`.${iteration}.tmp`), `${iteration}:${point}: its temporary directory is left, as after a real crash`);
    // Everything before it still loads with every checksum verified.
    assert.equal(checkChain(join(dir, String(iteration - 1))).links.length, iteration - 1);
    assert.throws(() => restore({ dir: join(dir, String(iteration)), verify: false, resumeSteps: 0 }), (e) => e instanceof ImageError && /interrupted while being written.*dump again$/.test(e.message));
    // The crashed process's lock is stale: the next dump takes it over, then asks for --force.
    assert.throws(() => dump(dir), (e) => e instanceof UsageError && /holds an interrupted dump \(\.\d\.tmp after \d complete iterations?\); pass --force/.test(e.message));
  }
  // And --force recovers: a full dump that restores and verifies.
  const dir = join(tmp, 'crash-3-rename');
  dump(dir, { force: true });
  const restored = restore({ dir: join(dir, '3'), verify: true, resumeSteps: 1000, onMismatch: 'report' });
  assert.equal(restored.digest_ok, true);
  process.stdout.write(`# crash points covered: ${cases.length}\n`);
  assert.equal(cases.length, 15);
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

/** What a reader did: succeeded, refused with a one-line TrackerError, or anything else (a defect). */
function outcome(f: () => unknown): { kind: 'ok' | 'refused' | 'other'; message: string } {
  try {
    f();
    return { kind: 'ok', message: '' };
  } catch (e) {
    if (e instanceof TrackerError && !e.message.includes('\n')) return { kind: 'refused', message: e.message };
    return { kind: 'other', message: (e as Error).stack ?? String(e) };
  }
}

/** Refusals that only restore can make: about the process the images describe, not the chain. */
const RESTORE_ONLY = /unknown kernel profile|lies outside every VMA|cannot map|does not match the digest|more than an emulated machine holds|no room to map|core image does not describe/;

test('500 corruptions: check refuses exactly what restore refuses for chain or checksum reasons, and so do stats, compare and show', () => {
  const base = join(tmp, 'fuzz-base');
  dump(base, { workload: join(ROOT, 'fixtures', 'ops', 'fuzz-chain.ops'), interval: 4 });
  const files: string[] = [];
  for (const it of ['1', '2', '3']) for (const f of readdirSync(join(base, it))) files.push(join(it, f));
  const rand = mulberry32(20261125);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const work = join(tmp, 'fuzz');
  const counts = { tried: 0, check_refused: 0, check_whole: 0, restored_and_verified: 0, restore_only_refused: 0 };
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
  // One copy of the chain; each trial puts back what it damaged (a fresh copy per trial cost more
  // than every reader together).
  cpSync(base, work, { recursive: true });
  const undo: (() => void)[] = [];
  const putBack = (r: string) => undo.push(() => copyFileSync(join(base, r), join(work, r)));
  // The first trial is one that only restore can refuse (a kernel profile it does not know), so
  // that branch is taken whatever the seed picks after it.
  const unknownKernel = semantic[4];
  for (let n = 0; n < 500; n++) {
    for (const u of undo.splice(0)) u();
    const rel = n === 0 ? join('3', 'inventory.img') : pick(files);
    putBack(rel);
    const path = join(work, rel);
    const data = readFileSync(path);
    const kind = n === 0 ? 'semantic' : pick(['flip', 'flip', 'truncate', 'extend', 'swap', 'delete', 'semantic', 'semantic', 'magic', 'version', 'parent-link'] as const);
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
        const otherRel = pick(files);
        putBack(otherRel);
        const other = join(work, otherRel);
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
        (n === 0 ? unknownKernel : pick(semantic))(o, k);
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
        undo.unshift(() => {
          unlinkSync(join(work, it));
          cpSync(join(base, it), join(work, it), { recursive: true });
        });
        rmSync(join(work, it), { recursive: true });
        symlinkSync(pick([tmpdir(), '/', join(base, it)]), join(work, it));
        break;
      }
    }
    counts.tried++;
    const t0 = Date.now();
    const head = join(work, '3');
    // tracker check is the reference: what it refuses, for chain or checksum reasons, every
    // reader refuses with the same words; what it accepts, stats and compare accept.
    const verdict = outcome(() => checkReport(head));
    const restored = outcome(() => {
      const r = restore({ dir: head, resumeSteps: 0, verify: false, onMismatch: 'report' });
      assert.equal(r.digest_ok, true);
    });
    assert.ok(Date.now() - t0 < 5000, `${kind} ${rel}: check and restore took ${Date.now() - t0} ms`);
    const stats = outcome(() => chainStats(head));
    const compared = outcome(() => compare(base, head, {}));
    const shown = outcome(() => showIteration(head));
    const rss = outcome(() => showRss(head));
    for (const [what, o] of [['check', verdict], ['restore', restored], ['stats', stats], ['compare', compared], ['show', shown], ['show --rss', rss]] as const) {
      if (o.kind === 'other' && others.length < 5) others.push(`${what} after ${kind} ${rel}: ${o.message}`);
    }
    if (verdict.kind === 'refused') {
      counts.check_refused++;
      assert.equal(restored.message, verdict.message, `${kind} ${rel}: restore must refuse what check refuses, in the same words`);
      assert.equal(stats.message, verdict.message, `${kind} ${rel}: stats`);
      assert.equal(compared.message, verdict.message, `${kind} ${rel}: compare`);
      assert.equal(shown.kind, 'refused', `${kind} ${rel}: show`);
    } else if (verdict.kind === 'ok') {
      counts.check_whole++;
      assert.equal(stats.kind, 'ok', `${kind} ${rel}: stats refused a chain check accepts: ${stats.message}`);
      assert.equal(compared.kind, 'ok', `${kind} ${rel}: compare refused a chain check accepts: ${compared.message}`);
      // Restore may still refuse, for what only a restore finds: the process the images describe.
      if (restored.kind === 'refused') {
        assert.match(restored.message, RESTORE_ONLY, `${kind} ${rel}: restore refused a chain check accepts`);
        counts.restore_only_refused++;
      } else counts.restored_and_verified++;
    }
  }
  process.stdout.write(`# corruption fuzz: ${JSON.stringify(counts)}\n`);
  assert.deepEqual(others, []);
  assert.equal(counts.check_refused + counts.check_whole, counts.tried);
  assert.ok(counts.check_refused > counts.tried * 0.7, 'most corruptions must be caught');
  assert.ok(counts.restored_and_verified > 0 && counts.restore_only_refused > 0, 'both branches are exercised');
});
