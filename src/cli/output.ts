/** What the CLI writes: the only module that knows about stdout, stderr, TTYs, colour and spinners. */
import chalk from 'chalk';
import type { Ora } from 'ora';
import { fsError } from '../criu/images-dir.js';
import { StdoutClosedError, type TrackerError } from '../errors.js';
import { displayParams, snakeName } from '../workload/params.js';
import { findModel } from '../workload/registry.js';

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
 * The width tables must fit: the terminal's columns, or $COLUMNS (set by shells, and by tests),
 * or none when the output is not a terminal (a file or a pipe keeps whole rows).
 */
export function terminalColumns(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  if (stream.isTTY === true && (stream.columns ?? 0) > 0) return stream.columns;
  return Infinity;
}

/**
 * A spinner only on a terminal that has a width: ora divides by the column count, and a 0-column
 * pseudo-terminal (`script -qc … /dev/null`) made it clear lines forever. It never reads stdin
 * (discardStdin puts the terminal in raw mode, turning Ctrl-C into a byte instead of SIGINT).
 */
export function spinnerAllowed(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0 && env.CI === undefined && env.TERM !== 'dumb';
}

// ora and what it loads take ~70 ms, a quarter of a command's start: main() loads it only when
// spinners can be drawn (a terminal), so scripts, pipes and CI never pay for it.
let oraModule: typeof import('ora') | null = null;

export async function loadSpinner(): Promise<void> {
  if (oraModule === null && spinnerAllowed()) oraModule = await import('ora');
}

/** A spinner on stderr, or null where none is drawn (not a terminal, or called as a library). */
export function startSpinner(text: string): Ora | null {
  if (!spinnerAllowed() || oraModule === null) return null;
  return oraModule.default({ text, stream: process.stderr, discardStdin: false, hideCursor: false }).start();
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
  return fsError('cannot write to standard output', stdoutFailure, `redirect it elsewhere; ${doing}`) as TrackerError;
}

/** Resolves once what was written to stdout has reached it, or failed. */
export function stdoutSettled(): Promise<void> {
  return new Promise((resolve) => {
    if (stdoutFailure !== null || process.stdout.destroyed) resolve();
    else process.stdout.write('', () => setImmediate(resolve));
  });
}

/**
 * Every --json document: keys in snake_case (as CRIU's images and crit), a workload's parameters
 * as `tracker workloads` and model files write them, and floating-point noise rounded away
 * (0.14635199999999998 is printed 0.146352: twelve significant digits).
 */
export function toJson(doc: unknown, indent = 2): string {
  return JSON.stringify(jsonForm(doc), null, indent);
}

function jsonForm(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? v : Number(v.toPrecision(12));
  if (Array.isArray(v)) return v.map(jsonForm);
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === 'params' && typeof o.model === 'string' && x !== null && typeof x === 'object' && !Array.isArray(x)) {
      out.params = jsonForm(displayParams(findModel(o.model)?.params ?? [], x as Record<string, unknown>));
    } else out[snakeName(k)] = jsonForm(x);
  }
  return out;
}
