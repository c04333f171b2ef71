/** --report FILE.html: the page is written under a temporary name, synced and renamed. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IoError } from '../errors.js';
import { renderReport, type ReportInput } from '../migrate/report.js';

export function writeReport(file: string, input: ReportInput): void {
  writeDurably(file, renderReport(input), 'the report', '--report path');
}

/** Write `data` to `file` under a temporary name, fsync it, rename it and fsync the directory. */
export function writeDurably(file: string, data: string, what: string, option: string): void {
  const html = data;
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, html);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dfd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new IoError(`cannot write ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; choose another ${option}`);
  }
}
