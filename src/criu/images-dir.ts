/**
 * The images directory (CRIU's -D): created if needed, locked while a dump writes into it, and
 * cleared by --force only of what tracker wrote.
 *
 * Lock: DIR/.tracker.lock, created with O_EXCL, holding the owner's pid and its start time (field 22
 * of /proc/PID/stat). A lock whose pid is gone, a zombie, or a different process (start time
 * differs: the pid was reused) is stale and taken over; a live one makes the command fail at once.
 * What tracker wrote: iteration directories N whose files are image files and whose inventory.img
 * is tracker's, interrupted iterations .N.tmp holding only image files, and its lock.
 */
import { closeSync, existsSync, fsyncSync, statSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { IoError, LockedError, UsageError } from '../errors.js';
import { IMAGE_FILES, IMAGE_MAGIC, fsyncDir, readHeader } from './image.js';

export const LOCK_FILE = '.tracker.lock';
/** Serialises the take-over of a stale lock. */
const TAKEOVER_FILE = '.tracker.lock.takeover';
const IMAGE_NAMES: ReadonlySet<string> = new Set(Object.values(IMAGE_FILES));

/** Who holds a lock: a pid and that process's start time (clock ticks after boot), when known. */
export interface LockOwner {
  pid: number;
  start: string | null;
}

/** Field 22 (starttime) and field 3 (state) of /proc/PID/stat, or null if there is no such process. */
function procStat(pid: number | 'self'): { pid: number; state: string; start: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may hold spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return { pid: Number(text.slice(0, text.indexOf(' '))), state: rest[0], start: rest[19] };
}

/** This process, as a lock owner (read from /proc/self, so the library needs no `process`). */
export function selfOwner(): LockOwner {
  const s = procStat('self');
  if (s === null) throw new IoError('cannot read /proc/self/stat to lock the images directory; tracker needs Linux procfs');
  return { pid: s.pid, start: s.start };
}

/** Whether the process that wrote a lock still runs. */
export function ownerAlive(o: LockOwner): boolean {
  const s = procStat(o.pid);
  if (s === null || s.state === 'Z' || s.state === 'X') return false;
  return o.start === null || s.start === o.start;
}

function errnoCode(e: unknown): string {
  return String((e as NodeJS.ErrnoException)?.code ?? e);
}

const IO_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EIO']);
const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  ENOTDIR: 'a path component is not a directory',
  EEXIST: 'exists and is not a directory',
};

/** A file-system error as one line: exit 5 for the disk's problems, exit 2 for a bad path. */
export function fsError(what: string, e: unknown, advice: string): Error {
  const code = errnoCode(e);
  const msg = `${what}: ${WHY[code] ?? code} (${code}); ${advice}`;
  return IO_CODES.has(code) ? new IoError(msg) : new UsageError(msg);
}


function readLock(path: string): { owner: LockOwner | null; raw: string } | null {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw fsError(`cannot read the lock ${path}`, e, 'remove it if no tracker runs there');
  }
  try {
    const o = JSON.parse(raw) as { pid?: unknown; start?: unknown };
    if (Number.isSafeInteger(o.pid) && (o.pid as number) > 0) return { owner: { pid: o.pid as number, start: typeof o.start === 'string' ? o.start : null }, raw };
  } catch {
    // a lock cut short by a crash while it was written: stale
  }
  return { owner: null, raw };
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function inUse(root: string, o: LockOwner): LockedError {
  return new LockedError(`${root} is in use by pid ${o.pid} (another tracker dump); wait for it to finish or choose another -D`);
}

/** Fail if a live process holds the lock of `root` (for commands that read a chain). */
export function assertNotLocked(root: string): void {
  const l = readLock(join(root, LOCK_FILE));
  if (l !== null && l.owner !== null && ownerAlive(l.owner)) throw inUse(root, l.owner);
}

/** Take the lock of `root`, taking over a stale one; throws LockedError if a live process holds it. */
export function lockImagesDir(root: string, owner: LockOwner = selfOwner()): () => void {
  const path = join(root, LOCK_FILE);
  const content = JSON.stringify({ pid: owner.pid, start: owner.start, tool: 'tracker' }) + '\n';
  const release = () => {
    try {
      const l = readLock(path);
      if (l !== null && l.raw === content) unlinkSync(path);
    } catch {
      // the lock is gone already
    }
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      if (createExclusive(path, content)) return release;
    } catch (e) {
      throw fsError(`cannot lock images directory ${root}`, e, 'choose a writable -D');
    }
    const l = readLock(path);
    if (l === null) continue; // released meanwhile
    if (l.owner !== null && ownerAlive(l.owner)) throw inUse(root, l.owner);
    // Stale: one taker at a time removes it, and only if it is still the lock that was read.
    const takeover = join(root, TAKEOVER_FILE);
    if (!createExclusive(takeover, content)) {
      const t = readLock(takeover);
      if (t !== null && t.owner !== null && ownerAlive(t.owner)) throw inUse(root, t.owner);
      rmSync(takeover, { force: true });
      continue;
    }
    try {
      const again = readLock(path);
      if (again !== null && again.raw === l.raw) unlinkSync(path);
    } finally {
      unlinkSync(takeover);
    }
  }
  throw new LockedError(`${root}: could not take its lock (${LOCK_FILE}); remove it if no tracker runs there`);
}

/** Whether `dir` is a directory holding only image files: an iteration or its .N.tmp. */
function onlyImageFiles(dir: string): string | null {
  for (const f of readdirSync(dir)) {
    const st = lstatSync(join(dir, f));
    if (!IMAGE_NAMES.has(f) || !st.isFile()) return f;
  }
  return null;
}

function isTrackerInventory(path: string): boolean {
  try {
    return readHeader(path).magic === IMAGE_MAGIC.inventory;
  } catch {
    return false;
  }
}

/**
 * Why `name` in `root` is not tracker's (the first foreign path, relative to root), or null if
 * tracker wrote it: an iteration N with tracker's inventory.img, or a .N.tmp, holding image files only.
 */
export function foreignEntry(root: string, name: string): string | null {
  const path = join(root, name);
  if (name === LOCK_FILE) return null;
  const st = lstatSync(path);
  const numbered = /^[1-9]\d*$/.test(name);
  const tmp = /^\.[1-9]\d*\.tmp$/.test(name);
  if (!st.isDirectory() || (!numbered && !tmp)) return name;
  const bad = onlyImageFiles(path);
  if (bad !== null) return join(name, bad);
  if (numbered && !isTrackerInventory(join(path, IMAGE_FILES.inventory))) return join(name, IMAGE_FILES.inventory);
  return null;
}

/** An images root a dump writes into, locked until release() or abandon(). */
export interface ImagesRoot {
  root: string;
  /** Unlock; the images stay. */
  release(): void;
  /**
   * After a failure: remove the interrupted iteration's .NAME.tmp, unlock, and remove the root
   * itself if tracker created it and nothing else is in it.
   */
  abandon(tmpName?: string): void;
}

/** mkdir -p, returning the first directory it created (null if root existed). */
function makeRoot(root: string): string | null {
  try {
    const first = mkdirSync(root, { recursive: true }) ?? null;
    // The new directory's entry is durable once its parent is fsynced.
    if (first !== null) fsyncDir(dirname(resolve(first)));
    return first;
  } catch (e) {
    throw fsError(`cannot create images directory ${root}`, realMkdirError(root, e), 'choose another -D');
  }
}

/** mkdir -p reports ENOENT where the first missing directory cannot be made (EROFS, EACCES): find the real error. */
function realMkdirError(root: string, e: unknown): unknown {
  if (errnoCode(e) !== 'ENOENT') return e;
  let d = resolve(root);
  while (!existsSync(dirname(d)) && dirname(d) !== d) d = dirname(d);
  try {
    mkdirSync(d);
    rmdirSync(d);
  } catch (inner) {
    return inner;
  }
  return e;
}

/** Whether path is a directory (following symlinks), null if nothing is there. */
function isDirectory(path: string): boolean | null {
  try {
    return statSync(path).isDirectory();
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return null; // mkdir names the problem
    throw fsError(`cannot read ${path}`, e, 'check the path');
  }
}

function open(root: string, owner: LockOwner | undefined): { created: string | null; release: () => void } {
  const exists = isDirectory(root);
  if (exists === false) throw new UsageError(`${root} exists and is not a directory; choose another -D`);
  const created = exists === null ? makeRoot(root) : null;
  let release: () => void;
  try {
    release = lockImagesDir(root, owner);
  } catch (e) {
    removeCreated(root, created);
    throw e;
  }
  return { created, release };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** rmdir root and its parents up to the first one tracker created, while they are empty. */
function removeCreated(root: string, created: string | null): void {
  if (created === null) return;
  const top = resolve(created);
  for (let d = resolve(root); ; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top || relative(top, d).startsWith('..')) return;
  }
}

function handle(root: string, created: string | null, release: () => void): ImagesRoot {
  return {
    root,
    release,
    abandon(tmpName?: string) {
      if (tmpName !== undefined) rmSync(join(root, `.${tmpName}.tmp`), { recursive: true, force: true });
      release();
      removeCreated(root, created);
    },
  };
}

/**
 * Open the images root of `dump --iterative`: create it if needed and lock it. A non-empty root is
 * refused unless `force`; with `force`, tracker's iterations and leftovers are removed, and
 * anything else makes it refuse, naming the first foreign entry, before anything is removed.
 */
export function prepareImagesRoot(root: string, force: boolean, owner?: LockOwner): ImagesRoot {
  const { created, release } = open(root, owner);
  try {
    const entries = readdirSync(root).filter((e) => e !== LOCK_FILE && e !== TAKEOVER_FILE).sort();
    if (entries.length > 0) {
      if (!force) {
        const interrupted = entries.filter((e) => /^\.\d+\.tmp$/.test(e));
        if (interrupted.length > 0) {
          const done = entries.filter((e) => /^\d+$/.test(e)).length;
          throw new UsageError(`${root} holds an interrupted dump (${interrupted.join(', ')} after ${done} complete iteration${done === 1 ? '' : 's'}); pass --force to start over, or choose another -D`);
        }
        throw new UsageError(`${root} is not empty; pass --force to replace its images, or choose another -D`);
      }
      for (const e of entries) {
        const foreign = foreignEntry(root, e);
        if (foreign !== null) throw new UsageError(`${root} holds ${foreign}, which tracker did not write; --force replaces only tracker's images: move it away or choose another -D`);
      }
      try {
        for (const e of entries) rmSync(join(root, e), { recursive: true });
        fsyncDir(root);
      } catch (e) {
        throw fsError(`cannot remove the old images in ${root}`, e, 'check its permissions');
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return handle(root, created, release);
}

/**
 * Open the images root of one pre-dump or dump into root/name (the primitive commands): lock the
 * root, refuse an existing root/name unless `force`, and then only if tracker wrote it.
 */
export function prepareIterationDir(root: string, name: string, force: boolean, shownAs: string, owner?: LockOwner): ImagesRoot {
  const { created, release } = open(root, owner);
  try {
    if (existsSync(join(root, name)) || isSymlink(join(root, name))) {
      if (!force) throw new UsageError(`${shownAs} already exists; pass --force to replace it, or choose a new directory for this iteration`);
      const foreign = foreignEntry(root, name);
      if (foreign !== null) throw new UsageError(`${join(root, foreign)} was not written by tracker; --force replaces only tracker's images: move it away or choose another -D`);
      rmSync(join(root, name), { recursive: true });
    }
  } catch (e) {
    release();
    throw e;
  }
  return handle(root, created, release);
}
