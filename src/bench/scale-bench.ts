/**
 * Scale: `tracker plan --workload guest --param memory=SIZE --param dirtyRate=650Mbit --bandwidth
 * 1Gbit --policy qemu` for guests of 8, 64, 256 GiB and 1 TiB, each in a fresh process (its peak
 * RSS is the process's own, getrusage's ru_maxrss): wall time and peak RSS. The yardstick, measured
 * in alternating rounds of the same run, is a bare Node process (start-up and exit) and its RSS.
 * Also the cost of a resident page in each memory model: RSS over resident pages of a populated
 * guest (content: 4 KiB frames; token: content tokens).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PLAN = fileURLToPath(new URL('../migrate/plan.js', import.meta.url));
const WORKLOAD = fileURLToPath(new URL('../workload/index.js', import.meta.url));
const KERNEL = fileURLToPath(new URL('../mm/kernel.js', import.meta.url));

export interface ScaleRun {
  guest: string;
  wall_s: number[];
  peak_rss_mib: number[];
  /** The row the plan gives (the same every round: the plan is deterministic). */
  row: { iterations: number; bytes_sent: number; downtime_s: number; total_time_s: number };
}

export interface ScaleBench {
  scale: {
    command: string;
    runs: ScaleRun[];
    /** Yardstick: `node -e 0`, wall time and peak RSS, in the same rounds. */
    node_baseline: { wall_s: number[]; peak_rss_mib: number[] };
    /** Host bytes per resident page of a populated guest, by memory model. */
    rss_bytes_per_resident_page: { content: number; token: number };
  };
}

interface ChildResult {
  wall_s: number;
  rss_mib: number;
  out: string;
}

function child(code: string): ChildResult {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `${code}\nprocess.stdout.write('\\n' + JSON.stringify({ rss: process.resourceUsage().maxRSS }));`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`scale bench child failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  const { rss } = JSON.parse(lines[lines.length - 1]) as { rss: number };
  return { wall_s: Math.round(wall * 100) / 100, rss_mib: Math.round(rss / 1024), out: lines.slice(0, -1).join('\n') };
}

function planCode(gib: number): string {
  return `import { runPlan } from ${JSON.stringify(PLAN)};
const o = await runPlan({ workload: 'guest', params: { memory: '${gib}G', dirtyRate: '650Mbit' }, seed: 1, kernel: '6.1', bandwidths: [1e9 / 8], policies: ['qemu'], downtimeLimit: 0.3, interval: { seconds: 0 }, jobs: 0, fast: true });
const r = o.plan.rows[0];
process.stdout.write(JSON.stringify({ iterations: r.iterations, bytes_sent: r.bytes_sent, downtime_s: r.downtime_s, total_time_s: r.total_time_s }));`;
}

/** RSS over resident pages: a 1 GiB (content) or 16 GiB (token) guest populated, minus a 4 MiB one. */
function perPage(model: 'content' | 'token', gib: number): number {
  const code = (size: string) => `import { createWorkload } from ${JSON.stringify(WORKLOAD)};
import { Kernel, DEFAULT_MEMORY_BYTES } from ${JSON.stringify(KERNEL)};
const k = new Kernel({ memoryModel: '${model}', memoryBytes: Math.max(DEFAULT_MEMORY_BYTES, ${gib} * 2 ** 30 + 2 ** 26) });
const p = createWorkload(k, 'guest', 1, { memory: '${size}', dirtyRate: '1M/s' });
p.run(p.warmUpSteps);`;
  const big = child(code(`${gib}G`));
  const small = child(code('4M'));
  const pages = (gib * 2 ** 30) / 4096 - 1024;
  return Math.round(((big.rss_mib - small.rss_mib) * 2 ** 20) / pages);
}

export function benchScale(sizes = [8, 64, 256, 1024], rounds = (gib: number) => (gib <= 8 ? 3 : 1)): ScaleBench {
  const runs: ScaleRun[] = [];
  const baseline = { wall_s: [] as number[], peak_rss_mib: [] as number[] };
  for (const gib of sizes) {
    const run: ScaleRun = { guest: gib >= 1024 ? `${gib / 1024} TiB` : `${gib} GiB`, wall_s: [], peak_rss_mib: [], row: { iterations: 0, bytes_sent: 0, downtime_s: 0, total_time_s: 0 } };
    for (let i = 0; i < rounds(gib); i++) {
      const b = child('');
      baseline.wall_s.push(b.wall_s);
      baseline.peak_rss_mib.push(b.rss_mib);
      const r = child(planCode(gib));
      run.wall_s.push(r.wall_s);
      run.peak_rss_mib.push(r.rss_mib);
      run.row = JSON.parse(r.out) as ScaleRun['row'];
    }
    runs.push(run);
  }
  return {
    scale: {
      command: 'tracker plan --workload guest --param memory=SIZE --param dirtyRate=650Mbit --bandwidth 1Gbit --policy qemu --jobs 0',
      runs,
      node_baseline: baseline,
      rss_bytes_per_resident_page: { content: perPage('content', 1), token: perPage('token', 16) },
    },
  };
}
