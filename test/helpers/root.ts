import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/<layer>/). */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
