/** The one way tests start the tracker command: `node bin/tracker.js ARGS`, sync or as a child. */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './root.js';

export const TRACKER_BIN = join(ROOT, 'bin', 'tracker.js');

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** startTracker: SIGKILL the child after this long (default 60 s, as tracker()). */
  timeoutMs?: number;
  /** startTracker: called with all of stderr so far whenever more arrives. */
  onStderr?: (stderr: string, child: ChildProcessWithoutNullStreams) => void;
}

function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

export function tracker(args: string[], o: SpawnOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [TRACKER_BIN, ...args], { encoding: 'utf8', env: environment(o.env), cwd: o.cwd, timeout: 60_000 });
}

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start tracker; `done` resolves with its exit status and output (killed after o.timeoutMs). */
export function startTracker(args: string[], o: SpawnOptions = {}): { child: ChildProcessWithoutNullStreams; done: Promise<Finished> } {
  const child = spawn(process.execPath, [TRACKER_BIN, ...args], { env: environment(o.env), cwd: o.cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    o.onStderr?.(stderr, child);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    }),
  );
  return { child, done };
}

/** Resolve once the child's stdout matches `re`. */
export function waitForOutput(child: ChildProcessWithoutNullStreams, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const on = (s: Buffer | string) => {
      seen += String(s);
      if (re.test(seen)) {
        child.stdout.off('data', on);
        resolve();
      }
    };
    child.stdout.on('data', on);
    child.on('close', () => reject(new Error(`exited before printing ${re}: ${seen}`)));
  });
}
