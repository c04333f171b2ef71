import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';

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
