/**
 * The worker thread a dump runs in. The dump is synchronous; running it here leaves the main
 * thread free to take SIGINT/SIGTERM (and to animate the spinner). The main thread sets a shared
 * flag that the dump checks at every safe point as its AbortSignal.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { iterativeDump, type CancelSignal, type IterativeDumpOptions } from '../migrate/iterative.js';
import { primitiveDump, type PrimitiveDumpOptions } from '../migrate/primitive.js';
import { faultHook } from './faults.js';
import { serializeError, type SerializedError } from '../errors.js';

export type DumpJob = { kind: 'iterative'; options: Omit<IterativeDumpOptions, 'onIteration' | 'faultPoint' | 'signal'> } | { kind: 'primitive'; options: Omit<PrimitiveDumpOptions, 'faultPoint' | 'signal'> };

export interface WorkerData {
  job: DumpJob;
  abort: SharedArrayBuffer;
  fault: string | undefined;
}

export type { SerializedError };

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as WorkerData;
  const flag = new Int32Array(data.abort);
  const signal: CancelSignal = {
    get aborted() {
      return Atomics.load(flag, 0) !== 0;
    },
  };
  try {
    const faultPoint = faultHook(data.fault);
    const report =
      data.job.kind === 'iterative'
        ? iterativeDump({ ...data.job.options, signal, faultPoint, onIteration: (stats, phase) => port.postMessage({ type: 'iteration', stats, phase }) })
        : primitiveDump({ ...data.job.options, signal, faultPoint });
    port.postMessage({ type: 'done', report });
  } catch (e) {
    port.postMessage({ type: 'error', error: serializeError(e) });
  }
}
