import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { assertNotLocked } from '../criu/images-dir.js';
import { checkInputSize, InputError, UsageError } from '../errors.js';

/** Read a user-named input file, turning the OS error into a one-line message. */
export function readInputFile(file: string, what: string): string {
  checkInputSize(file, what);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code);
    throw new InputError(`cannot read ${what} ${file}: ${why}`);
  }
}

/**
 * The exit-code rule for paths to images, the same for restore, show, stats, check and compare: a
 * path that does not exist, a directory that holds no images (empty, only files tracker did not
 * write, or only the .N.tmp of an interrupted first iteration), or a file where a directory is
 * needed, is bad input (exit 2); what is there is then read by the library, and a damaged image is
 * exit 3. An iteration DIR/N that exists only as its DIR/.N.tmp is an interrupted dump: left to
 * the library, which says so (exit 3).
 */
export function requireImagesPath(path: string, side?: 'base' | 'head', needDir = false): void {
  const named = side === undefined ? path : `${side} ${path}`;
  if (!existsSync(path)) {
    if (existsSync(join(dirname(path), `.${basename(path)}.tmp`))) return;
    throw new UsageError(`${named}: no such file or directory`);
  }
  if (!statSync(path).isDirectory()) {
    if (needDir) throw new UsageError(`${named} is a file, not an images directory; give DIR/N of a dump`);
    return;
  }
  const names = readdirSync(path);
  if (names.some((n) => /^\d+$/.test(n) || n.endsWith('.img'))) return;
  if (names.length === 0) throw new UsageError(`${named} is empty: it holds no images`);
  const tmp = names.filter((n) => /^\.\d+\.tmp$/.test(n));
  if (tmp.length > 0) throw new UsageError(`${named} holds no images, only ${tmp.join(', ')} of an interrupted dump; dump again (--force replaces it)`);
  throw new UsageError(`${named} holds no images (no inventory.img and no numbered iteration directories); give an images directory`);
}

/** restore reads a chain: refuse while a dump holds the images root. */
export function requireUnlockedChain(iterationDir: string): void {
  assertNotLocked(dirname(resolve(iterationDir)));
}
