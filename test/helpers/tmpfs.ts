import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';

/** false when a small tmpfs can be mounted under `tmp` (a full disk on demand), else why not: a test's `skip`. */
export function cannotMountTmpfs(tmp: string): string | false {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const probe = mkdtempSync(join(tmp, 'probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
  if (r.status !== 0) return `cannot mount a tmpfs here: ${String(r.stderr).trim()}`;
  spawnSync('umount', [probe]);
  return false;
}
