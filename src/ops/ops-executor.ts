/**
 * Runs op-script ops on an emulated process and produces the observations the reference runner
 * prints (fixtures/spec/ops-language.md), in the same field order.
 */
import { EBADF, EFAULT, EINVAL, ENOMEM, SIGBUS, SIGSEGV } from '../mm/errno.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { TASK_SIZE_VPN } from '../mm/mmap.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';
import {
  mwriteprotectRange,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  userfaultfdApi,
  userfaultfdOpen,
  userfaultfdRegister,
  userfaultfdRelease,
  userfaultfdUnregister,
  type UserfaultfdCtx,
} from '../mm/userfaultfd.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, TaskSyscalls } from '../task/syscalls.js';
import { clearRefsWrite } from '../proc/clear-refs.js';
import { KPF_THP, KPF_ZERO_PAGE, kpageflags } from '../proc/kpageflags.js';
import { PM_FILE_HI, PM_MMAP_EXCLUSIVE_HI, PM_PRESENT_HI, PM_SOFT_DIRTY_HI, PM_SWAP_HI, PM_UFFD_WP_HI, readPagemap, softDirtyPagemap } from '../proc/pagemap.js';
import { pagemapScan } from '../proc/pagemap-scan.js';
import { smapsVma } from '../proc/smaps.js';
import type { Op, OpProt, OpRange } from './ops-parser.js';

/** The observation flag values of the spec's pagemap table. */
export const OBS_PRESENT = 1;
export const OBS_SWAPPED = 2;
export const OBS_FILE = 4;
export const OBS_EXCLUSIVE = 8;
export const OBS_SOFT_DIRTY = 16;
export const OBS_ZERO_PAGE = 32;
export const OBS_THP = 64;
/** EXTENSION: PM_UFFD_WP (bit 57). */
export const OBS_UFFD_WP = 128;

/** The reference runner's first mmap slot (0x100000000000) and the gap after every slot (128 MiB). */
export const OPS_FIRST_SLOT_VPN = 0x100000000;
export const OPS_SLOT_GAP_PAGES = 32768;

export type Observation = Record<string, unknown>;

interface Range {
  start: number;
  pages: number;
}

interface Frame {
  task: Task;
  names: Map<string, Range>;
  nextSlot: number;
  /** Line of the fork that made this process (children only). */
  forkLine: number;
  /** The process's one userfaultfd (the runner keeps at most one; a forked child starts without). */
  uffd: UserfaultfdCtx | null;
}

/**
 * totalram_pages() of the reference machine (qemu -m 2048) under each kernel, found with the
 * oracle: the overcommit heuristic refuses a private writable mmap of more than totalram + swap
 * (131071 pages of zram) pages, and the largest one accepted was 634104 pages on 6.1.192 and
 * 635857 on 6.12.117 (within a page or so from boot to boot: it moves with the initramfs).
 * `tracker script` gives its machine this much memory unless told otherwise.
 */
export const OPS_REFERENCE_TOTALRAM_PAGES: Readonly<Record<string, number>> = { '6.1': 503033, '6.12': 504786 };

/** The memory of the reference machine as the given kernel profile sees it. */
export function opsReferenceMemoryBytes(profile: string): number {
  return (OPS_REFERENCE_TOTALRAM_PAGES[profile] ?? OPS_REFERENCE_TOTALRAM_PAGES['6.1']) * PAGE_SIZE;
}

/** tmpfs at /tmp in the reference machine is mounted size=512m: a bigger file cannot be written. */
export const OPS_TMPFS_PAGES = 131072;
const ENOSPC = 28;
const EEXIST = 17;
const ECHILD = 10;
const SIGKILL = 9;

function protBits(p: OpProt): number {
  return p === 'none' ? 0 : p === 'r' ? PROT_READ : PROT_READ | PROT_WRITE;
}

export interface OpsExecutorState {
  names: [string, Range][];
  nextSlot: number;
  files: number;
}

export class OpsExecutor {
  private stack: Frame[] = [];
  private cur: Frame;
  private files = 0;
  /** The OOM killer killed the current process: its ops are skipped up to its endchild. */
  private dead = false;
  /** fork/endchild nesting seen while skipping a dead process's ops. */
  private deadDepth = 0;
  /** The top-level process was killed: the script is over. */
  oomKilled = false;
  /** Processes the OOM killer killed. */
  oomKills = 0;

  constructor(
    readonly kernel: Kernel,
    task: Task,
    state?: OpsExecutorState,
  ) {
    this.cur = {
      task,
      names: new Map(state?.names ?? []),
      nextSlot: state?.nextSlot ?? OPS_FIRST_SLOT_VPN,
      forkLine: 0,
      uffd: null,
    };
    this.files = state?.files ?? 0;
  }

  /** The process ops run in now (a child between fork and endchild). */
  get task(): Task {
    return this.cur.task;
  }

  get inChild(): boolean {
    return this.stack.length > 0;
  }

  state(): OpsExecutorState {
    const main = this.stack.length > 0 ? this.stack[0] : this.cur;
    return { names: [...main.names], nextSlot: main.nextSlot, files: this.files };
  }

  range(name: string): Range | undefined {
    return this.cur.names.get(name);
  }

  /** The reference runner's alloc_slot(): 2 MiB-aligned, taken even when the mmap then fails. */
  private slot(pages: number): number {
    const start = Math.ceil(this.cur.nextSlot / 512) * 512;
    this.cur.nextSlot = start + Math.ceil(pages / 512) * 512 + OPS_SLOT_GAP_PAGES;
    return start;
  }

  /** Run one op; observations (and failures) go to `emit`. */
  exec(op: Op, emit: (o: Observation) => void): void {
    if (this.oomKilled) return;
    if (this.dead) {
      // The killed child's ops never run; its parent waits at the matching endchild.
      if (op.op === 'fork') this.deadDepth++;
      else if (op.op === 'endchild' && this.deadDepth-- === 0) this.reapKilledChild(emit);
      return;
    }
    try {
      this.execOp(op, emit);
    } catch (e) {
      if (!(e instanceof OomKill)) throw e;
      this.oomKill(op, e.page, emit);
    }
  }

  /**
   * The OOM killer picked this process (the only one using memory): SIGKILL. It prints what a
   * fault prints, with signal 9; a parent then sees its child killed, as the reference runner
   * reports it ("child_status": the wait status, 9).
   */
  private oomKill(op: Op, page: number | undefined, emit: (o: Observation) => void): void {
    const o: Observation = this.inChild ? { line: op.line, op: op.op, proc: 'child' } : { line: op.line, op: op.op };
    o.signal = SIGKILL;
    if (page !== undefined) o.page = page;
    emit(o);
    this.oomKills++;
    if (!this.inChild) {
      this.oomKilled = true;
      return;
    }
    this.dead = true;
    this.deadDepth = 0;
  }

  private reapKilledChild(emit: (o: Observation) => void): void {
    const forkLine = this.cur.forkLine;
    this.kernel.exit(this.cur.task);
    this.cur = this.stack.pop()!;
    this.dead = false;
    const o: Observation = this.inChild ? { line: forkLine, op: 'fork', proc: 'child' } : { line: forkLine, op: 'fork' };
    emit({ ...o, errno: ECHILD, child_status: SIGKILL });
  }

  private execOp(op: Op, emit: (o: Observation) => void): void {
    const mm = this.cur.task.mm;
    const sys = new TaskSyscalls(this.cur.task);
    const head = (): Observation => (this.inChild ? { line: op.line, op: op.op, proc: 'child' } : { line: op.line, op: op.op });
    const fail = (errno: number, extra: Observation = {}): void => emit({ ...head(), errno, ...extra });
    // The reference runner: an op naming no mapping of this process is "bad op or unknown mapping".
    const unknown = (): void => fail(EINVAL, { error: 'bad op or unknown mapping' });
    switch (op.op) {
      case 'mmap': {
        let start: number;
        const fixed = op.at !== undefined;
        if (op.at !== undefined) {
          const other = this.cur.names.get(op.at.name);
          if (other === undefined) return unknown();
          start = other.start + op.at.offset;
        } else start = this.slot(op.pages);
        if (op.kind === 'file' && op.pages > OPS_TMPFS_PAGES) return fail(ENOSPC, { stage: 'write' });
        // Without at=, the runner maps with MAP_FIXED_NOREPLACE at its slot.
        if (!fixed && start + op.pages <= TASK_SIZE_VPN && mm.vmasIn(start, start + op.pages).length > 0) return fail(EEXIST);
        const file = op.kind === 'file' ? sys.openFile(`/tmp/tracker-ops-file-${++this.files}`, op.pages) : undefined;
        // The runner write(2)s the file before mapping it: every page is in the page cache.
        if (file !== undefined && !file.writeAll(mm.mem, mm.swap)) {
          file.release(mm.mem, mm.swap);
          return fail(ENOSPC, { stage: 'write' });
        }
        const flags = MAP_FIXED | (op.kind === 'shared' ? MAP_SHARED | MAP_ANONYMOUS : op.kind === 'anon' ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE);
        const r = sys.mmap({ addr: start, pages: op.pages, prot: protBits(op.prot), flags, file });
        if (r < 0) {
          if (file !== undefined && file.refs === 0) file.release(mm.mem, mm.swap);
          return fail(-r);
        }
        this.cur.names.set(op.name, { start: r, pages: op.pages });
        if (op.huge) {
          const h = sys.madvise(r, op.pages, 'hugepage');
          if (h < 0) return fail(-h);
        }
        return;
      }
      case 'write':
      case 'read': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        for (let i = op.first; i < op.first + op.count; i++) {
          const addr = (r.start + i) * PAGE_SIZE;
          const res = op.op === 'write' ? mm.write8(addr, op.byte) : mm.read8(addr);
          if (res < 0) {
            if (res === -SIGSEGV || res === -SIGBUS) return fail(EFAULT, { signal: -res, page: i });
            throw new OomKill(i);
          }
        }
        return;
      }
      case 'clear_refs':
        emit({ ...head(), value: op.value, errno: clearRefsWrite(mm, op.value) });
        return;
      case 'mprotect': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const res = sys.mprotect(r.start + op.first, op.count, protBits(op.prot));
        if (res < 0) fail(-res);
        return;
      }
      case 'munmap': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const res = sys.munmap(r.start + op.first, op.count);
        if (res < 0) fail(-res);
        return;
      }
      case 'mremap': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const res = op.move
          ? sys.mremap(r.start, r.pages, op.pages, MREMAP_MAYMOVE | MREMAP_FIXED, this.slot(Math.max(op.pages, r.pages)))
          : sys.mremap(r.start, r.pages, op.pages, 0);
        if (res < 0) return fail(-res);
        this.cur.names.set(op.name, { start: res, pages: op.pages });
        return;
      }
      case 'madvise': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const res = sys.madvise(r.start + op.first, op.count, op.advice);
        if (res < 0) fail(-res);
        return;
      }
      case 'fork': {
        const child = this.kernel.fork(this.cur.task);
        this.stack.push(this.cur);
        this.cur = { task: child, names: new Map(this.cur.names), nextSlot: this.cur.nextSlot, forkLine: op.line, uffd: null };
        return;
      }
      case 'endchild': {
        const parent = this.stack.pop();
        if (parent === undefined) return fail(ENOMEM);
        this.kernel.exit(this.cur.task);
        this.cur = parent;
        return;
      }
      case 'pagemap': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        emit({ ...head(), name: op.name, flags: pagemapFlags(this.kernel, this.cur.task, r.start, r.pages) });
        return;
      }
      case 'uffd_open': {
        const r = this.openUffd(op.features);
        if (r !== 0) fail(r[0], { stage: r[1] });
        return;
      }
      case 'uffd_close':
        if (this.cur.uffd === null) return fail(EBADF);
        this.closeUffd();
        return;
      case 'uffd_register':
      case 'uffd_unregister':
      case 'uffd_wp': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const { first, count } = opRange(op.range, r);
        if (op.op === 'uffd_register' && this.cur.uffd === null) {
          const o = this.openUffd(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
          if (o !== 0) return fail(o[0], { stage: o[1] });
        }
        // Without a uffd the runner passes fd -1: EBADF.
        if (this.cur.uffd === null) return fail(EBADF);
        const start = r.start + first;
        if (op.op === 'uffd_register') {
          const res = userfaultfdRegister(mm, this.cur.uffd, start, count);
          if (res < 0) fail(-res, { stage: 'register' });
        } else if (op.op === 'uffd_unregister') {
          const res = userfaultfdUnregister(mm, this.cur.uffd, start, count);
          if (res < 0) fail(-res);
        } else {
          const res = mwriteprotectRange(mm, this.cur.uffd, start, count, op.op === 'uffd_wp' && op.on);
          if (res < 0) fail(-res);
        }
        return;
      }
      case 'pagemap_scan': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const { first, count } = opRange(op.range, r);
        const vecLen = op.vecLen ?? count;
        const start = r.start + first;
        const res = pagemapScan(mm, {
          size: op.size,
          flags: op.flags,
          start,
          end: start + count,
          vec: vecLen > 0,
          vecLen,
          maxPages: op.maxPages,
          categoryInverted: op.inverted,
          categoryMask: op.mask,
          categoryAnyofMask: op.anyof,
          returnMask: op.returnMask,
        });
        const cats: number[] = new Array<number>(count).fill(-1);
        for (const reg of res.regions) {
          for (let v = Math.max(reg.start, start); v < Math.min(reg.end, start + count); v++) cats[v - start] = reg.categories;
        }
        const o: Observation = { ...head(), name: op.name, ret: res.ret < 0 ? -1 : res.ret, errno: res.ret < 0 ? -res.ret : 0 };
        if (res.walkEnd !== undefined) o.walk_end = res.walkEnd - r.start;
        o.cats = cats;
        emit(o);
        return;
      }
      case 'smaps': {
        const r = this.cur.names.get(op.name);
        if (r === undefined) return unknown();
        const vmas = mm.vmasIn(r.start, r.start + r.pages).map((v) => {
          const e = smapsVma(mm, v);
          return { from: v.start - r.start, to: v.end - r.start, sd: e.softDirty ? 1 : 0, anon_huge_kb: e.anonHugeKb, vmflags: e.vmFlags };
        });
        const sd = vmas.length > 0 && vmas.every((v) => v.sd === 1) ? 1 : 0;
        emit({ ...head(), name: op.name, sd, vmas });
        return;
      }
    }
  }

  /** Close this process's userfaultfd, if any: userfaultfd_release(). */
  private closeUffd(): void {
    if (this.cur.uffd === null) return;
    userfaultfdRelease(this.cur.task.mm, this.cur.uffd);
    this.cur.uffd = null;
  }

  /** userfaultfd(O_CLOEXEC|O_NONBLOCK) + UFFDIO_API, replacing the current one; 0 or [errno, stage]. */
  private openUffd(features: number): 0 | [number, string] {
    this.closeUffd();
    const ctx = userfaultfdOpen(this.cur.task.mm);
    if (typeof ctx === 'number') return [-ctx, 'open'];
    const r = userfaultfdApi(ctx, features);
    if (r < 0) return [-r, 'api'];
    this.cur.uffd = ctx;
    return 0;
  }

  /** End the script: a child still running exits. */
  finish(): void {
    this.dead = false;
    while (this.stack.length > 0) {
      this.kernel.exit(this.cur.task);
      this.cur = this.stack.pop()!;
    }
  }
}

/** The spec's per-page flags for pages [start, start+pages), read through pagemap and kpageflags. */
export function pagemapFlags(kernel: Kernel, task: Task, start: number, pages: number): number[] {
  const words = new Uint32Array(pages * 2);
  readPagemap(task.mm, start, pages, words, softDirtyPagemap(kernel.profile));
  const out: number[] = new Array(pages);
  for (let i = 0; i < pages; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    let f = 0;
    if ((hi & PM_PRESENT_HI) !== 0) {
      f |= OBS_PRESENT;
      const kpf = kpageflags(kernel.mem, lo);
      if ((kpf & (1 << KPF_ZERO_PAGE)) !== 0) f |= OBS_ZERO_PAGE;
      if ((kpf & (1 << KPF_THP)) !== 0) f |= OBS_THP;
    }
    if ((hi & PM_SWAP_HI) !== 0) f |= OBS_SWAPPED;
    if ((hi & PM_FILE_HI) !== 0) f |= OBS_FILE;
    if ((hi & PM_MMAP_EXCLUSIVE_HI) !== 0) f |= OBS_EXCLUSIVE;
    if ((hi & PM_SOFT_DIRTY_HI) !== 0) f |= OBS_SOFT_DIRTY;
    if ((hi & PM_UFFD_WP_HI) !== 0) f |= OBS_UFFD_WP;
    out[i] = f;
  }
  return out;
}

export interface OpsRun {
  observations: Observation[];
  /** Processes the OOM killer killed (their SIGKILL is among the observations). */
  oomKills: number;
}

/** Run a whole parsed script on a fresh process and collect its observations. */
export function runOpsScript(kernel: Kernel, ops: Op[]): OpsRun {
  const task = kernel.spawn('ops');
  const ex = new OpsExecutor(kernel, task);
  const observations: Observation[] = [];
  for (const op of ops) {
    ex.exec(op, (o) => observations.push(o));
    if (ex.oomKilled) break;
  }
  ex.finish();
  return { observations, oomKills: ex.oomKills };
}

export function runOps(kernel: Kernel, ops: Op[]): Observation[] {
  return runOpsScript(kernel, ops).observations;
}

/** An op's [FIRST COUNT], or the whole of NAME's current range. */
function opRange(range: OpRange | undefined, r: Range): OpRange {
  return range ?? { first: 0, count: r.pages };
}

/** Thrown inside an op when a fault finds no memory: the OOM killer's SIGKILL for this process. */
class OomKill extends Error {
  constructor(readonly page?: number) {
    super('out of memory');
  }
}

export { ENOMEM };
