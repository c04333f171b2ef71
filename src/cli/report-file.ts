/**
 * --report FILE.html: the destination is checked before the work (a missing folder or a read-only
 * one fails at once, not after a long dump), and the page is written as images are: under a
 * temporary name, every byte (a short write on a nearly full disk is retried until it fails),
 * fsynced, renamed, and the folder fsynced.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsError } from '../criu/images-dir.js';
import { fsyncDir } from '../criu/image.js';
import { UsageError } from '../errors.js';
import { renderReport, type ReportInput } from '../migrate/report.js';

function tmpName(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
}

/** Fails (exit 2 or 5) unless FILE can be written: its folder exists and takes a new file. */
export function checkReportDestination(file: string): void {
  const dir = dirname(file);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`--report ${file}: the folder ${dir} does not exist; create it or choose another --report path`);
  }
  if (!st.isDirectory()) throw new UsageError(`--report ${file}: ${dir} is not a folder; choose another --report path`);
  try {
    if (statSync(file).isDirectory()) throw new UsageError(`--report ${file} is a folder; name an .html file`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  const tmp = tmpName(file);
  try {
    closeSync(openSync(tmp, 'wx'));
  } catch (e) {
    throw fsError(`cannot write the report ${file}`, e, 'choose another --report path');
  }
  rmSync(tmp, { force: true });
}

export function writeReport(file: string, input: ReportInput): void {
  writeDurably(file, renderReport(input), 'the report', '--report path');
}

/** Write `data` to `file` under a temporary name, every byte, fsync it, rename it and fsync the directory. */
export function writeDurably(file: string, data: string, what: string, option: string): void {
  const html = Buffer.from(data);
  const tmp = tmpName(file);
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (let off = 0; off < html.length; ) off += writeSync(fd, html, off, html.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    fsyncDir(dirname(file));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fsError(`cannot write ${what} ${file}`, e, `free some space or choose another ${option}`);
  }
}
