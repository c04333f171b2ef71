import { statSync } from 'node:fs';

/**
 * One error class per failure kind, each with the exit code the CLI uses. Messages are one line
 * that says what was wrong and what to do.
 */
export const EXIT_OK = 0;
/** A verification or comparison failed. */
export const EXIT_VERIFY = 1;
/** Bad usage or input. */
export const EXIT_USAGE = 2;
/** An image is missing, corrupt or of the wrong version. */
export const EXIT_IMAGE = 3;
/** The emulated machine ran out of memory or swap. */
export const EXIT_RESOURCE = 4;
/** Reading or writing files failed (permissions, disk full). */
export const EXIT_IO = 5;

export class TrackerError extends Error {
  readonly exitCode: number = EXIT_USAGE;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class UsageError extends TrackerError {
  override readonly exitCode = EXIT_USAGE;
}

/** An op script or workload file that cannot be understood; names the file and line or field. */
export class InputError extends TrackerError {
  override readonly exitCode = EXIT_USAGE;
}

export class ImageError extends TrackerError {
  override readonly exitCode = EXIT_IMAGE;
}

export class VerifyError extends TrackerError {
  override readonly exitCode = EXIT_VERIFY;
}

export class ResourceError extends TrackerError {
  override readonly exitCode = EXIT_RESOURCE;
}

export class IoError extends TrackerError {
  override readonly exitCode = EXIT_IO;
}

/** Another tracker holds the images directory's lock. */
export class LockedError extends TrackerError {
  override readonly exitCode = EXIT_USAGE;
}

/** SIGINT (130) or SIGTERM (143) stopped a dump; the CLI sets the code from the signal. */
export const EXIT_INTERRUPTED = 130;

/** A dump stopped at a safe point because it was asked to (the CLI's AbortSignal). */
export class InterruptedError extends TrackerError {
  override readonly exitCode: number = EXIT_INTERRUPTED;
  /** The signal, when the thrower knows it (else the CLI's dump runner does). */
  constructor(
    message: string,
    readonly signal?: 'SIGINT' | 'SIGTERM',
  ) {
    super(message);
    if (signal !== undefined) this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}

/** A bug in tracker, not a user's mistake (EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** An error as it crosses a worker thread (a structured clone keeps no class): name, message, errno code. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export function serializeError(e: unknown): SerializedError {
  const err = e as NodeJS.ErrnoException;
  return { name: err?.name ?? 'Error', message: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : undefined, stack: err?.stack };
}

const CLASSES: Record<string, new (m: string) => TrackerError> = { UsageError, InputError, ImageError, VerifyError, ResourceError, IoError, LockedError, InterruptedError };

/** The error a worker serialized, of its class again (an fs error with its errno code), for the one catch. */
export function reviveError(s: SerializedError): Error {
  const C = CLASSES[s.name];
  if (C !== undefined) return new C(s.message);
  const e = new Error(s.message) as NodeJS.ErrnoException;
  if (s.code !== undefined) e.code = s.code;
  e.stack = s.stack;
  return e;
}

/** Standard output was closed by its reader (EPIPE, `| head -1`): 128 + SIGPIPE, as a shell reports a process SIGPIPE killed. */
export const EXIT_STDOUT_CLOSED = 141;

/**
 * Standard output's reader went away before tracker finished. A dump in progress stops at its next
 * safe point as if interrupted: the partial iteration is removed and the lock released.
 */
export class StdoutClosedError extends TrackerError {
  override readonly exitCode = EXIT_STDOUT_CLOSED;
}

/**
 * A message as one line: the control characters a user's path or value may hold (newline, tab, ESC
 * of a terminal escape sequence, C1 controls, line separators) are written as escapes, so a name
 * can neither split the line nor drive the terminal. The one top-level catch applies it to every
 * message; nothing else needs to.
 */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  });
}

/**
 * The largest input tracker reads whole (a workload .json, an op script, a dump --json report):
 * 64 MiB, hundreds of times any real one. A larger file would be read into memory at once (a
 * 2 GiB one takes seconds and gigabytes before it fails), so it is refused before it is read.
 * Lackey traces are streamed and have no limit.
 */
export const MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024;

/** Refuse (InputError) a file over MAX_INPUT_FILE_BYTES before it is read; `what` names it. */
export function checkInputSize(path: string, what: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return; // the reader reports a missing or unreadable file in its own words
  }
  if (size > MAX_INPUT_FILE_BYTES) {
    throw new InputError(`${what} ${path} is ${(size / 1024 ** 2).toFixed(0)} MiB; tracker reads such files whole and takes at most ${MAX_INPUT_FILE_BYTES / 1024 ** 2} MiB: is it the right file?`);
  }
}
