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
