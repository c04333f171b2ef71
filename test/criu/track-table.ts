/**
 * The README's table of tracking backends × built-in workloads (section "Tracking backends"):
 *   npx tsc -p tsconfig.json && node dist/test/criu/track-table.js [--json]
 * Each cell is `tracker dump --iterative --kernel 6.12 --policy fixed --iterations 4 --interval
 * 100ms --bandwidth 1Gbit --track T` of the workload with its default parameters, seed 1: pages
 * copied in all, of which false positives (pages nothing wrote since the iteration before), and
 * the pagemap entries or PAGEMAP_SCAN loop steps read (pages_scanned). The last column names the
 * mechanism behind each difference, chosen from what was measured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRACK_BACKENDS, type TrackBackend } from '../../src/criu/track.js';
import { iterativeDump, type DumpReport } from '../../src/migrate/iterative.js';
import { listWorkloads } from '../../src/workload/index.js';

interface Cell {
  pages: number;
  falsePositives: number;
  scanned: number;
  frozenMs: number;
}

function measure(workload: string, track: TrackBackend, root: string): Cell {
  const r: DumpReport = iterativeDump({
    imagesDir: join(root, `${workload}-${track}`),
    workload,
    seed: 1,
    kernel: '6.12',
    interval: { seconds: 0.1 },
    policy: 'fixed',
    iterations: 4,
    minPages: 0,
    maxGrowthPercent: 10,
    downtimeLimit: 0.3,
    preDumpMode: 'splice',
    bandwidth: 1e9 / 8,
    force: false,
    track,
    truth: true,
  });
  rmSync(join(root, `${workload}-${track}`), { recursive: true, force: true });
  return {
    pages: r.totals.pages_written,
    falsePositives: r.totals.false_positives ?? 0,
    scanned: r.iterations.reduce((a, i) => a + i.pages_scanned, 0),
    frozenMs: r.totals.frozen_time / 1000,
  };
}

/** Why the backends of one workload differ, from the figures. */
function mechanism(w: string, c: Record<TrackBackend, Cell>): string {
  const notes: string[] = [];
  const sd = c['soft-dirty'];
  const wp = c['uffd-wp'];
  if (wp.pages < sd.pages && sd.falsePositives > wp.falsePositives) {
    notes.push('soft-dirty marks a written THP whole (one bit per PMD); uffd-wp splits the PMD at the first write (wp_huge_pmd) and tracks 4 KiB pages');
  }
  if (sd.falsePositives > 0 && wp.falsePositives === sd.falsePositives && c['pagemap-scan'].falsePositives === sd.falsePositives) {
    notes.push(`the three trackers agree, false positives included: ${sd.falsePositives} pages copied that nothing wrote since the iteration before`);
  }
  if (c['pagemap-scan'].scanned < sd.scanned) notes.push(`PAGEMAP_SCAN returns runs: ${c['pagemap-scan'].scanned} loop steps instead of ${sd.scanned} pagemap entries`);
  if (c.mincore.pages !== c.none.pages) {
    notes.push(c.mincore.pages > c.none.pages ? 'mincore counts pages mapped to the zero page as resident' : 'mincore misses pages swapped out and gone from the swap cache: its chain does not restore');
  }
  if (c.none.pages > sd.pages) notes.push('mincore and none copy every resident page each time');
  return notes.join('; ');
}

function main(): void {
  const json = process.argv.includes('--json');
  const root = mkdtempSync(join(tmpdir(), 'tracker-track-table-'));
  const rows: { workload: string; cells: Record<TrackBackend, Cell>; mechanism: string }[] = [];
  try {
    // guest and curve are models of a measured dirty rate (a VM's, a curve's), with no process
    // behaviour of their own for the backends to differ on; curve has no default classes.
    for (const w of listWorkloads().map((x) => x.name).filter((x) => x !== 'guest' && x !== 'curve')) {
      const cells = {} as Record<TrackBackend, Cell>;
      for (const t of TRACK_BACKENDS) cells[t] = measure(w, t, root);
      rows.push({ workload: w, cells, mechanism: mechanism(w, cells) });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const head = ['workload', ...TRACK_BACKENDS, 'why they differ'];
  process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n`);
  for (const r of rows) {
    const cells = TRACK_BACKENDS.map((t) => `${r.cells[t].pages} (${r.cells[t].falsePositives})`);
    process.stdout.write(`| ${r.workload} | ${cells.join(' | ')} | ${r.mechanism || 'no difference'} |\n`);
  }
}

main();
