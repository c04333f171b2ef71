/**
 * Fault injection for tests of crash and disk safety, read from the environment by the CLI and
 * passed down as a hook (the library never reads the environment):
 *
 *   TRACKER_FAULT=N:POINT          SIGKILL at POINT of iteration N, as a crash would (nothing cleaned up)
 *   TRACKER_FAULT=N:POINT:enospc   the write at POINT of iteration N fails with ENOSPC, as on a full disk
 *   TRACKER_FAULT=N:POINT:eio      the same with EIO
 *
 * POINT is one of CRASH_POINTS (pagemap.img, pages.img, pages.img:middle, …, rename).
 */
import { UsageError } from '../errors.js';

const ERRNO: Record<string, string> = { enospc: 'ENOSPC: no space left on device, write', eio: 'EIO: i/o error, write', erofs: 'EROFS: read-only file system, write' };

export type FaultHook = (iteration: number, point: string) => void;

export function faultHook(spec: string | undefined): FaultHook | undefined {
  if (spec === undefined || spec === '') return undefined;
  const m = /^(\d+):(.+?)(?::(enospc|eio|erofs))?$/.exec(spec);
  if (m === null) throw new UsageError(`TRACKER_FAULT must be N:POINT or N:POINT:enospc, got '${spec}'`);
  const [iteration, point, errno] = [Number(m[1]), m[2], m[3]];
  return (it, p) => {
    if (it !== iteration || p !== point) return;
    if (errno === undefined) process.kill(process.pid, 'SIGKILL');
    const e = new Error(ERRNO[errno]) as NodeJS.ErrnoException;
    e.code = errno.toUpperCase();
    e.syscall = 'write';
    throw e;
  };
}
