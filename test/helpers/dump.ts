/**
 * The one way tests dump in-process: iterativeDump with the defaults below, each file choosing its
 * own through dumper(). Also the small workloads tests share and a scratch directory.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type DumpReport, type IterativeDumpOptions } from '../../src/migrate/iterative.js';

type Dumped = { dir: string; report: DumpReport };

/** A quick 3-iteration dump of the default workload, options overridable. */
export const QUICK_DUMP: Omit<IterativeDumpOptions, 'imagesDir'> = {
  ...DEFAULT_DUMP_OPTIONS,
  workload: 'hot-cold',
  seed: 1,
  kernel: '6.1',
  interval: 20_000,
  policy: 'fixed',
  iterations: 3,
  force: false,
  memoryBytes: 512 * 1024 * 1024,
};

/** iterativeDump into `dir` with QUICK_DUMP's options and `extra`. */
export function dumpTo(dir: string, extra: Partial<IterativeDumpOptions> = {}): Dumped {
  return { dir, report: iterativeDump({ ...QUICK_DUMP, ...extra, imagesDir: dir }) };
}

/** A quick dump into root/name (see QUICK_DUMP). */
export function quickDump(root: string, name: string, extra: Partial<IterativeDumpOptions> = {}): Dumped {
  return dumpTo(join(root, name), extra);
}

/** A file's own dump(), with its defaults over QUICK_DUMP's: dump(extra) or dump(name, extra). */
export interface Dumper {
  (extra?: Partial<IterativeDumpOptions>): Dumped;
  (name: string, extra?: Partial<IterativeDumpOptions>): Dumped;
}

/** Dumps go to root/NAME (NAME an absolute path, a name, or d0, d1, … when none is given). */
export function dumper(root: string, defaults: Partial<IterativeDumpOptions>): Dumper {
  let n = 0;
  return ((a?: string | Partial<IterativeDumpOptions>, b: Partial<IterativeDumpOptions> = {}) => {
    const [name, extra] = typeof a === 'string' ? [a, b] : [`d${n++}`, a ?? {}];
    return dumpTo(resolve(root, name), { ...defaults, ...extra });
  }) as Dumper;
}

/** A model file (JSON) in `dir`: `model` with `params`; written once. */
export function modelFile(dir: string, name: string, model: string, params: Record<string, unknown>): string {
  const f = join(dir, `${name}.json`);
  if (!existsSync(f)) writeFileSync(f, JSON.stringify({ model, params }));
  return f;
}

/** hot-cold on a 4 MiB heap: small enough for fast dumps, with a hot set that stays dirty. */
export function smallHotCold(dir: string): string {
  return modelFile(dir, 'small-hot-cold', 'hot-cold', { heap: '4M', hotSet: '256K' });
}

/**
 * A scratch directory for images, on tmpfs when the machine has one: the same writes, fsyncs and
 * renames, without waiting for a disk that other jobs share.
 */
export function scratchDir(prefix: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}
