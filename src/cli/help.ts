/** Help text shared by every command: the one exit-code table (the README has the same). */
import { EXIT_IMAGE, EXIT_INTERNAL, EXIT_IO, EXIT_RESOURCE, EXIT_STDOUT_CLOSED, EXIT_USAGE, EXIT_VERIFY } from '../errors.js';

export const EXIT_CODES = [
  [0, 'success'],
  [EXIT_VERIFY, 'a verification or comparison failed (restore --verify, compare thresholds)'],
  [EXIT_USAGE, 'bad usage or input: flags, a path that does not exist or holds no images, op scripts, workload files, a non-empty -D, -D in use by another tracker'],
  [EXIT_IMAGE, 'an image problem: corrupt, truncated, wrong version, broken or escaping chain, interrupted iteration'],
  [EXIT_RESOURCE, 'the emulated machine ran out of memory or swap'],
  [EXIT_IO, 'a file or standard output could not be written or read: disk full, read-only, permission denied, I/O error'],
  [EXIT_INTERNAL, 'internal error: a bug in tracker (please report it with the command)'],
  [130, 'interrupted by SIGINT (143: SIGTERM); the partial iteration is removed'],
  [EXIT_STDOUT_CLOSED, 'standard output was closed by its reader (as `head -1` does): a dump stops as if interrupted'],
] as const;

export const EXIT_CODES_HELP = `
Exit codes:
${EXIT_CODES.map(([c, what]) => `  ${String(c).padStart(3)}  ${what}`).join('\n')}`;
