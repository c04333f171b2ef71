import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DUMP_OPTIONS, iterativeDump, type DumpReport, type IterativeDumpOptions } from '../src/migrate/iterative.js';

/** A quick 3-iteration dump of the default workload into root/name, options overridable. */
export function quickDump(root: string, name: string, extra: Partial<IterativeDumpOptions> = {}): { dir: string; report: DumpReport } {
  const dir = join(root, name);
  const report = iterativeDump({
    ...DEFAULT_DUMP_OPTIONS,
    imagesDir: dir,
    workload: 'hot-cold',
    seed: 1,
    kernel: '6.1',
    interval: 20_000,
    policy: 'fixed',
    iterations: 3,
    force: false,
    memoryBytes: 512 * 1024 * 1024,
    ...extra,
  });
  return { dir, report };
}

/**
 * A scratch directory for images, on tmpfs when the machine has one: the same writes, fsyncs and
 * renames, without waiting for a disk that other jobs share.
 */
export function scratchDir(prefix: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}
