import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's chromium package (.ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium with a new profile under `tmp`, fetching nothing of its own in the background. */
export function chromium(tmp: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
