/**
 * /proc/PID/maps as CRIU parses it into its VMA list (proc_parse.c parse_smaps): one entry per VMA,
 * with what a dumper needs to know of its backing, and no page walk (smaps' Rss would cost a walk
 * of every VMA; the dumper reads residency from pagemap instead).
 */
import type { Task } from '../mm/kernel.js';

export interface MapsEntry {
  /** First page and end page (exclusive). */
  start: number;
  end: number;
  /** vm_flags. */
  flags: number;
  kind: 'anon' | 'shared' | 'file';
  pgoff: number;
  /** The file of a file mapping: its name, size in pages and whether it is a pattern file. */
  file: { name: string; pages: number; pattern: boolean } | null;
  /** The shmem object (its inode number) of a shared anonymous mapping, or -1. */
  shmemId: number;
}

export function readMaps(task: Task): MapsEntry[] {
  return task.mm.vmas.map((v) => ({
    start: v.start,
    end: v.end,
    flags: v.flags,
    kind: v.kind,
    pgoff: v.pgoff,
    file: v.kind === 'file' && v.file !== null ? { name: v.file.name, pages: v.file.nrPages, pattern: v.file.pattern } : null,
    shmemId: v.kind === 'shared' && v.file !== null ? v.file.id : -1,
  }));
}
