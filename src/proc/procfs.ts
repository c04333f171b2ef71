/**
 * A path-level view of procfs, the way CRIU reads a real process: /proc/PID/{pagemap, pagemap2,
 * clear_refs, smaps, maps} and /proc/kpageflags. Reads never change the process.
 */
import { EINVAL, ENOENT } from '../mm/errno.js';
import type { Kernel } from '../mm/kernel.js';
import { clearRefsWrite } from './clear-refs.js';
import { kpageflags } from './kpageflags.js';
import { PM_ENTRY_BYTES, readPagemapBytes } from './pagemap.js';
import { mapsText, smapsText } from './smaps.js';

export class ProcfsError extends Error {
  constructor(
    readonly errno: number,
    readonly path: string,
  ) {
    super(`${path}: errno ${errno}`);
    this.name = 'ProcfsError';
  }
}

const PATH_RE = /^\/proc\/(\d+|self)\/(pagemap|pagemap2|clear_refs|smaps|maps)$/;

export class Procfs {
  constructor(
    readonly kernel: Kernel,
    /** The pid /proc/self names. */
    public self = 0,
  ) {}

  private resolve(path: string): { pid: number; file: string } {
    const m = PATH_RE.exec(path);
    if (m === null) throw new ProcfsError(ENOENT, path);
    const pid = m[1] === 'self' ? this.self : Number(m[1]);
    if (this.kernel.task(pid) === undefined) throw new ProcfsError(ENOENT, path);
    if (m[2] === 'pagemap2' && !this.kernel.profile.pagemap2) throw new ProcfsError(ENOENT, path);
    return { pid, file: m[2] };
  }

  /** pread(2) of a binary file (pagemap, pagemap2, kpageflags). */
  pread(path: string, offset: number, length: number): Uint8Array {
    if (path === '/proc/kpageflags') {
      if (offset % 8 !== 0 || length % 8 !== 0) throw new ProcfsError(EINVAL, path);
      const out = new Uint8Array(length);
      const view = new DataView(out.buffer);
      for (let i = 0; i < length / 8; i++) view.setUint32(i * 8, kpageflags(this.kernel.mem, offset / 8 + i), true);
      return out;
    }
    const { pid, file } = this.resolve(path);
    if (file !== 'pagemap' && file !== 'pagemap2') throw new ProcfsError(EINVAL, path);
    if (offset % PM_ENTRY_BYTES !== 0 || length % PM_ENTRY_BYTES !== 0) throw new ProcfsError(EINVAL, path);
    return readPagemapBytes(this.kernel.task(pid)!.mm, offset, length, file);
  }

  /** read(2) of a text file (smaps, maps). */
  readText(path: string): string {
    const { pid, file } = this.resolve(path);
    const mm = this.kernel.task(pid)!.mm;
    if (file === 'smaps') return smapsText(mm);
    if (file === 'maps') return mapsText(mm);
    throw new ProcfsError(EINVAL, path);
  }

  /** write(2): returns 0 or throws ProcfsError with the errno the kernel returns. */
  write(path: string, data: string): void {
    const { pid, file } = this.resolve(path);
    if (file !== 'clear_refs') throw new ProcfsError(EINVAL, path);
    const errno = clearRefsWrite(this.kernel.task(pid)!.mm, data);
    if (errno !== 0) throw new ProcfsError(errno, path);
  }
}
