/**
 * Run a tracker command line in this process, as bin/tracker.js would run it, and collect what it
 * prints and the exit code it would end with. For tests where the process itself is not what is
 * tested: no node start-up per case.
 *
 * What main() (src/cli/main.ts) does and these do too: applyColourEnv, loadSpinner (a no-op off a
 * terminal), buildProgram().parse/parseAsync, and exitCodeFor for whatever it throws. What only a
 * process shows stays with test/helpers/spawn.ts: a closed or failing stdout (main's stdoutSettled),
 * signals, colour decided at start-up (FORCE_COLOR), a terminal, the bin/ shebang, exit itself.
 */
import chalk from 'chalk';
import { buildProgram, exitCodeFor } from '../../src/cli/main.js';
import { applyColourEnv, loadSpinner } from '../../src/cli/output.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface InProcessOptions {
  /** Variables set (or, when undefined, removed) while the command runs, as spawn.ts's env. */
  env?: Record<string, string | undefined>;
  /** The working directory while the command runs. */
  cwd?: string;
}

interface Capture {
  result: CliResult;
  restore(): void;
}

/**
 * Redirect what the command writes. Only strings are taken: the CLI writes strings, while the test
 * runner's own reports to its parent (node --test's child-v8 stream) are Buffers and pass through.
 */
function capture(o: InProcessOptions): Capture {
  if (o.env?.FORCE_COLOR !== undefined) throw new Error('trackerInProcess: FORCE_COLOR is read when chalk loads; use tracker() from test/helpers/spawn.ts');
  const result: CliResult = { status: 0, stdout: '', stderr: '' };
  const savedEnv = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(o.env ?? {})) {
    savedEnv.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const cwd = process.cwd();
  if (o.cwd !== undefined) process.chdir(o.cwd);
  const level = chalk.level;
  const out = process.stdout.write;
  const err = process.stderr.write;
  const take = (orig: typeof process.stdout.write, to: 'stdout' | 'stderr') =>
    function (this: NodeJS.WriteStream, s: string | Uint8Array, ...rest: unknown[]): boolean {
      if (typeof s !== 'string') return (orig as (...a: unknown[]) => boolean).call(this, s, ...rest);
      result[to] += s;
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      if (cb !== undefined) queueMicrotask(cb);
      return true;
    } as typeof process.stdout.write;
  process.stdout.write = take(out, 'stdout');
  process.stderr.write = take(err, 'stderr');
  return {
    result,
    restore() {
      process.stdout.write = out;
      process.stderr.write = err;
      chalk.level = level;
      if (o.cwd !== undefined) process.chdir(cwd);
      for (const [k, v] of savedEnv) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** A synchronous command (not dump/pre-dump, whose actions are asynchronous: trackerAsync). */
export function trackerInProcess(...args: string[]): CliResult {
  // Dumps run in a worker thread behind an async action.
  if (args[0] === 'dump' || args[0] === 'pre-dump') throw new Error(`trackerInProcess: '${args[0]}' is asynchronous; use trackerAsync()`);
  const c = capture({});
  try {
    applyColourEnv(process.env);
    buildProgram().parse(['node', 'tracker', ...args]);
  } catch (e) {
    // The one mapping of src/cli/main.ts (its one line goes to the captured stderr).
    c.result.status = exitCodeFor(e);
  } finally {
    c.restore();
  }
  return c.result;
}

// One command at a time: what is captured, the environment and the directory are this process's.
let queue: Promise<unknown> = Promise.resolve();

/**
 * Any command, dumps included (their worker thread starts here), through parseAsync as main()
 * runs it. Calls made together run one after another.
 */
export function trackerAsync(args: string[], o: InProcessOptions = {}): Promise<CliResult> {
  const run = async (): Promise<CliResult> => {
    const c = capture(o);
    try {
      applyColourEnv(process.env);
      await loadSpinner();
      await buildProgram().parseAsync(['node', 'tracker', ...args]);
    } catch (e) {
      c.result.status = exitCodeFor(e);
    } finally {
      c.restore();
    }
    return c.result;
  };
  const p = queue.then(run, run);
  queue = p.catch(() => undefined);
  return p;
}
