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
