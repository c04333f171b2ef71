/**
 * Run a tracker command line in this process, as bin/tracker.js would run it, and collect what it
 * prints and the exit code it would end with. For tests where the process itself is not what is
 * tested: no node start-up per case.
 */
import { CommanderError } from 'commander';
import { buildProgram } from '../src/cli/main.js';
import { TrackerError } from '../src/errors.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function trackerInProcess(...args: string[]): CliResult {
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
    // The same mapping as src/cli/main.ts: commander's own errors are usage errors (2).
    if (e instanceof CommanderError) status = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof TrackerError) {
      stderr += `tracker: ${e.message}\n`;
      status = e.exitCode;
    } else throw e;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { status, stdout, stderr };
}
