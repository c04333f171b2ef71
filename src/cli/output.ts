/** What the CLI writes: the only module that knows about stdout, stderr, TTYs, colour and spinners. */
import chalk from 'chalk';
import ora, { type Ora } from 'ora';
import { fsError } from '../criu/images-dir.js';
import { StdoutClosedError, type TrackerError } from '../errors.js';

export interface Output {
  json: boolean;
  isTTY: boolean;
  out(s: string): void;
  err(s: string): void;
}

export function processOutput(json: boolean): Output {
  return {
    json,
    isTTY: process.stdout.isTTY === true && process.env.CI === undefined,
    // After a failed write nothing more is written: the failure is reported once, at the end.
    out: (s) => void (stdoutFailure === null && process.stdout.write(s.endsWith('\n') ? s : s + '\n')),
    err: (s) => void process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  };
}

/**
 * Colour: FORCE_COLOR wins (chalk reads it), then NO_COLOR (https://no-color.org: any non-empty
 * value turns colour off, on a terminal too), then whether the stream is a terminal.
 */
export function applyColourEnv(env: NodeJS.ProcessEnv): void {
  if (env.FORCE_COLOR !== undefined) return;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') chalk.level = 0;
}

/**
 * A spinner only on a terminal that has a width: ora divides by the column count, and a 0-column
 * pseudo-terminal (`script -qc … /dev/null`) made it clear lines forever. It never reads stdin
 * (discardStdin puts the terminal in raw mode, turning Ctrl-C into a byte instead of SIGINT).
 */
export function spinnerAllowed(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0 && env.CI === undefined && env.TERM !== 'dumb';
}

export function startSpinner(text: string): Ora | null {
  if (!spinnerAllowed()) return null;
  return ora({ text, stream: process.stderr, discardStdin: false, hideCursor: false }).start();
}

// Writes to stdout fail asynchronously (the stream's 'error' event): a reader that went away
// (EPIPE) or a full or broken file (ENOSPC, EIO). The first failure is kept; a dump in progress
// listens to stop at its next safe point, and main reports it once the command returns.
let stdoutFailure: NodeJS.ErrnoException | null = null;
const failureListeners = new Set<() => void>();

export function watchStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (stdoutFailure !== null) return;
    stdoutFailure = e;
    for (const l of failureListeners) l();
  });
}

/** Call `l` when a write to stdout fails (at once if one has); returns the unsubscribe. */
export function onStdoutFailure(l: () => void): () => void {
  if (stdoutFailure !== null) l();
  failureListeners.add(l);
  return () => void failureListeners.delete(l);
}

/** The error the command ends with because of stdout, or null. */
export function stdoutError(doing = 'the command stopped'): TrackerError | null {
  if (stdoutFailure === null) return null;
  if (stdoutFailure.code === 'EPIPE') return new StdoutClosedError(`standard output was closed before tracker finished (EPIPE): ${doing}`);
  return fsError('cannot write to standard output', stdoutFailure, 'redirect it elsewhere') as TrackerError;
}

/** Resolves once what was written to stdout has reached it, or failed. */
export function stdoutSettled(): Promise<void> {
  return new Promise((resolve) => {
    if (stdoutFailure !== null || process.stdout.destroyed) resolve();
    else process.stdout.write('', () => setImmediate(resolve));
  });
}
