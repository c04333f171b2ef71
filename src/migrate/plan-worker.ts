/** A `tracker plan` worker thread: runs the combinations it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { runCombination, type CombinationOptions } from './plan.js';

const { tmpRoot, heatmap } = workerData as { tmpRoot: string; heatmap: boolean };

parentPort!.on('message', (m: { index: number; task: CombinationOptions }) => {
  try {
    parentPort!.postMessage({ index: m.index, result: runCombination(m.task, tmpRoot, heatmap) });
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ index: m.index, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), stack: err?.stack } });
  }
});
