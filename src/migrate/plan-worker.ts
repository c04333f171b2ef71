/** A `tracker plan` worker thread: runs the groups of combinations it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { runGroup, type CombinationOptions } from './plan.js';

const { tmpRoot, heatmap } = workerData as { tmpRoot: string; heatmap: boolean };

parentPort!.on('message', (m: { index: number; group: CombinationOptions[] }) => {
  try {
    parentPort!.postMessage({ index: m.index, results: runGroup(m.group, tmpRoot, heatmap) });
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ index: m.index, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), stack: err?.stack } });
  }
});
