/** errno values the emulated system calls return (negated, as the kernel does). */
export const EPERM = 1;
export const ENOENT = 2;
export const EBADF = 9;
export const EFAULT = 14;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ERANGE = 34;
export const ENOSYS = 38;

/** Signals a faulting access raises. */
export const SIGBUS = 7;
export const SIGSEGV = 11;

/** A fault outcome: 0, or a negative code naming the signal (-SIGSEGV, -SIGBUS) or -ENOMEM for OOM. */
export type FaultResult = number;
export const FAULT_OK = 0;
export const FAULT_SIGSEGV = -SIGSEGV;
export const FAULT_SIGBUS = -SIGBUS;
export const FAULT_OOM = -1000 - ENOMEM;
