/**
 * Run a tracker command line in this process, as bin/tracker.js would run it, and collect what it
 * prints and the exit code it would end with. For tests where the process itself is not what is
 * tested: no node start-up per case.
 */
import { buildProgram, exitCodeFor } from '../../src/cli/main.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function trackerInProcess(...args: string[]): CliResult {
  // Dumps run in a worker thread behind an async action: start them with test/spawn.ts.
  if (args[0] === 'dump' || args[0] === 'pre-dump') throw new Error(`trackerInProcess: '${args[0]}' is asynchronous; use tracker() from test/helpers/spawn.ts`);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  let status = 0;
  try {
    buildProgram().parse(['node', 'tracker', ...args]);
  } catch (e) {
    // The one mapping of src/cli/main.ts (its one line goes to the captured stderr).
    status = exitCodeFor(e);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { status, stdout, stderr };
}
