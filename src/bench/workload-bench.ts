/**
 * Workload benchmarks: how fast the default model runs (steps/s in its steady state, after the
 * heap is populated, and so how many virtual seconds at its default rate one real second emulates) and how fast a plain-text Lackey trace replays (records/s, parse and MMU
 * access together). The trace is the committed fixture, inflated and repeated into a temporary
 * file of ~3 million records, so the streamed reader is measured across many 1 MiB chunks.
 */
import { mkdtempSync, openSync, closeSync, rmSync, writeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Kernel } from '../mm/kernel.js';
import { createWorkload, DEFAULT_WORKLOAD, workloadRate } from '../workload/index.js';
import type { LackeyWorkload } from '../workload/lackey.js';

export interface WorkloadBench {
  workload_steps_per_s: number;
  /** Virtual seconds of the default workload (at its default rate) one real second emulates. */
  workload_virtual_s_per_real_s: number;
  trace_lines_per_s: number;
}

/** The committed trace, found from this module (dist/src/bench/ or src/bench/) up to the repo. */
const FIXTURE_TRACE = fileURLToPath(new URL('../../../fixtures/traces/hotcold.lackey.gz', import.meta.url));
const FIXTURE_TRACE_SRC = fileURLToPath(new URL('../../fixtures/traces/hotcold.lackey.gz', import.meta.url));

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function readFixture(): Buffer {
  try {
    return gunzipSync(readFileSync(FIXTURE_TRACE));
  } catch {
    return gunzipSync(readFileSync(FIXTURE_TRACE_SRC));
  }
}

/** Best of `rounds` timings of `steps` steady-state steps of the default model. */
export function benchWorkloadSteps(steps = 5_000_000, rounds = 3): number {
  const p = createWorkload(new Kernel(), DEFAULT_WORKLOAD, 1);
  p.run(1_000_000); // setup, populate, and JIT warm-up
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    p.run(steps);
    best = Math.max(best, steps / seconds(t0));
  }
  return best;
}

export function benchTraceReplay(copies = 8): number {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-bench-'));
  const file = join(dir, 'bench.lackey');
  try {
    const trace = readFixture();
    const fd = openSync(file, 'w');
    for (let i = 0; i < copies; i++) writeSync(fd, trace);
    closeSync(fd);
    let best = 0;
    for (let r = 0; r < 2; r++) {
      const p = createWorkload(new Kernel(), file, 1) as LackeyWorkload;
      const t0 = process.hrtime.bigint();
      while (!p.finished) p.run(1_000_000);
      best = Math.max(best, p.recordsReplayed / seconds(t0));
    }
    return best;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Steps per real second over virtual seconds per step: how much faster than real time. */
export function virtualSecondsPerRealSecond(stepsPerS: number): number {
  const p = createWorkload(new Kernel(), DEFAULT_WORKLOAD, 1);
  return stepsPerS / workloadRate(p);
}

export function benchWorkloads(): WorkloadBench {
  const steps = benchWorkloadSteps();
  return {
    workload_steps_per_s: Math.round(steps),
    workload_virtual_s_per_real_s: Math.round(virtualSecondsPerRealSecond(steps) * 10) / 10,
    trace_lines_per_s: Math.round(benchTraceReplay()),
  };
}
