import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { assertNotLocked } from '../criu/images-dir.js';
import { InputError, UsageError } from '../errors.js';

/** Read a user-named input file, turning the OS error into a one-line message. */
export function readInputFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code);
    throw new InputError(`cannot read ${what} ${file}: ${why}`);
  }
}

/**
 * The exit-code rule for paths to images, the same for restore, show, stats and compare: a path
 * that does not exist, or an empty directory, is bad input (exit 2); what is there is then read
 * by the library, and a damaged image is exit 3. An iteration that exists only as its .N.tmp is an
 * interrupted dump: left to the library, which says so (exit 3).
 */
export function requireImagesPath(path: string, side?: 'base' | 'head'): void {
  const named = side === undefined ? path : `${side} ${path}`;
  if (!existsSync(path)) {
    if (existsSync(join(dirname(path), `.${basename(path)}.tmp`))) return;
    throw new UsageError(`${named}: no such file or directory`);
  }
  if (statSync(path).isDirectory() && readdirSync(path).length === 0) throw new UsageError(`${named} is empty: it holds no images`);
}

/** restore reads a chain: refuse while a dump holds the images root. */
export function requireUnlockedChain(iterationDir: string): void {
  assertNotLocked(dirname(resolve(iterationDir)));
}
