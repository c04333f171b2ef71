/** The images root a dump writes its iterations into. */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

/** Prepare the images root: refuse a non-empty one unless forced. */
export function prepareImagesRoot(root: string, force: boolean): void {
  if (existsSync(root)) {
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch {
      throw new UsageError(`${root} exists and is not a directory; choose another -D`);
    }
    if (entries.length > 0) {
      const interrupted = entries.filter((e) => /^\.\d+\.tmp$/.test(e));
      if (!force && interrupted.length > 0) {
        const done = entries.filter((e) => /^\d+$/.test(e)).length;
        throw new UsageError(`${root} holds an interrupted dump (${interrupted.join(', ')} after ${done} complete iteration${done === 1 ? '' : 's'}); pass --force to start over, or choose another -D`);
      }
      if (!force) throw new UsageError(`${root} is not empty; pass --force to replace its images, or choose another -D`);
      for (const e of entries) rmSync(join(root, e), { recursive: true, force: true });
    }
  } else {
    try {
      mkdirSync(root, { recursive: true });
    } catch (e) {
      throw new UsageError(`cannot create images directory ${root}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
}
