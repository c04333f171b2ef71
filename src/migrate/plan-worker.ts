/** A `tracker plan` worker thread: runs the groups of combinations it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../errors.js';
import { runGroup, sharedSignal, type CombinationOptions } from './plan.js';

const { tmpRoot, heatmap, abort } = workerData as { tmpRoot: string; heatmap: boolean; abort?: SharedArrayBuffer };
const signal = sharedSignal(abort);

parentPort!.on('message', (m: { index: number; group: CombinationOptions[] }) => {
  try {
    const tick = (iteration: number) => parentPort!.postMessage({ index: m.index, iteration });
    parentPort!.postMessage({ index: m.index, results: runGroup(m.group, tmpRoot, heatmap, signal, tick) });
  } catch (e) {
    parentPort!.postMessage({ index: m.index, error: serializeError(e) });
  }
});
