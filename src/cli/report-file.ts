/** --report FILE.html: the page is written under a temporary name, synced and renamed. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IoError } from '../errors.js';
import { renderReport, type ReportInput } from '../migrate/report.js';

export function writeReport(file: string, input: ReportInput): void {
  const html = renderReport(input);
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
    throw new IoError(`cannot write the report ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; choose another --report path`);
  }
}
